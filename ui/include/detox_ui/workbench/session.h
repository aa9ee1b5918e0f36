// A workbench session as JSON: which model and dataset were open, the selected record, the theme
// and the Run log with its results. Written atomically; a malformed file is rejected with the
// file and the field named, before anything in the window changes.
#pragma once
#include <QJsonObject>
#include <QString>
#include <QVector>
#include <string>
#include <vector>

#include "detox_ui/jobs/job_runner.h"

namespace detox::ui {

struct Session {
    static constexpr int kFormatVersion = 1;

    QString modelPath;              // empty when no model was open
    QString datasetPath;            // empty when no dataset was open
    int selectedRecord = -1;        // SafeEdit record id; -1 for none
    QString theme = QStringLiteral("light");
    QVector<RunLogEntry> runLog;

    QJsonObject toJson() const;
    // Throws detox::Error(file, field, expectation).
    static Session fromJson(const QJsonObject& object, const QString& file);
};

void saveSessionFile(const Session& session, const QString& path);  // throws detox::Error
Session loadSessionFile(const QString& path);                        // throws detox::Error

// QApplication takes "-session" / "--session" out of argv (X11 session management) before any parser
// of ours runs, which silently dropped the workbench's own `--session FILE`. Applied to argv before
// QApplication is built: renames them to "--open-session" (the workbench accepts both names).
std::vector<std::string> protectSessionArgument(std::vector<std::string> arguments);

}  // namespace detox::ui
