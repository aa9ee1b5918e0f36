#include "detox_ui/workbench/session.h"

#include <QJsonArray>
#include <QJsonDocument>

#include "detox/error.h"
#include "detox/fileio.h"

namespace detox::ui {

namespace {

const char* kFormatName = "detox-workbench-session";

[[noreturn]] void fail(const QString& file, const QString& field, const QString& expected) {
    throw detox::Error(file.toStdString(), field.toStdString(), expected.toStdString());
}

QString optionalString(const QJsonObject& object, const QString& key, const QString& file) {
    const QJsonValue value = object.value(key);
    if (value.isUndefined() || value.isNull()) return {};
    if (!value.isString()) fail(file, key, "expected a string");
    return value.toString();
}

}  // namespace

QJsonObject Session::toJson() const {
    QJsonArray entries;
    for (const RunLogEntry& entry : runLog) entries.append(entry.toJson());
    return QJsonObject{{"format", kFormatName},
                       {"version", kFormatVersion},
                       {"model_path", modelPath},
                       {"dataset_path", datasetPath},
                       {"selected_record", selectedRecord},
                       {"theme", theme},
                       {"run_log", entries}};
}

Session Session::fromJson(const QJsonObject& object, const QString& file) {
    if (object.value("format").toString() != kFormatName)
        fail(file, "format", QString("expected \"%1\"").arg(kFormatName));
    const QJsonValue version = object.value("version");
    if (!version.isDouble() || version.toInt() < 1)
        fail(file, "version", "expected a positive integer");
    if (version.toInt() > kFormatVersion)
        fail(file, "version", QString("expected %1 or lower (written by a newer workbench)").arg(kFormatVersion));
    Session session;
    session.modelPath = optionalString(object, "model_path", file);
    session.datasetPath = optionalString(object, "dataset_path", file);
    const QJsonValue selected = object.value("selected_record");
    if (!selected.isUndefined() && !selected.isNull()) {
        if (!selected.isDouble() || selected.toDouble() != double(selected.toInt()) || selected.toInt() < -1)
            fail(file, "selected_record", "expected a record id (integer >= 0) or -1");
        session.selectedRecord = selected.toInt();
    }
    session.theme = optionalString(object, "theme", file);
    if (session.theme.isEmpty()) session.theme = "light";
    if (session.theme != "light" && session.theme != "dark") fail(file, "theme", "expected \"light\" or \"dark\"");
    const QJsonValue log = object.value("run_log");
    if (!log.isUndefined() && !log.isArray()) fail(file, "run_log", "expected a list of run-log entries");
    const QJsonArray entries = log.toArray();
    for (int i = 0; i < entries.size(); ++i) {
        const QString prefix = QString("run_log[%1].").arg(i);
        if (!entries[i].isObject()) fail(file, QString("run_log[%1]").arg(i), "expected an object");
        session.runLog.append(RunLogEntry::fromJson(entries[i].toObject(), file, prefix));
    }
    return session;
}

void saveSessionFile(const Session& session, const QString& path) {
    const QByteArray bytes = QJsonDocument(session.toJson()).toJson(QJsonDocument::Indented);
    detox::writeFileAtomically(path.toStdString(), std::string_view(bytes.constData(), size_t(bytes.size())));
}

Session loadSessionFile(const QString& path) {
    const std::string bytes = detox::readFile(path.toStdString());
    QJsonParseError error;
    const QJsonDocument document = QJsonDocument::fromJson(QByteArray::fromStdString(bytes), &error);
    if (error.error != QJsonParseError::NoError)
        fail(path, QString("offset %1").arg(error.offset), "expected valid JSON: " + error.errorString());
    if (!document.isObject()) fail(path, "", "expected a JSON object (a workbench session)");
    return Session::fromJson(document.object(), path);
}

std::vector<std::string> protectSessionArgument(std::vector<std::string> arguments) {
    for (size_t i = 1; i < arguments.size(); ++i) {
        if (arguments[i] == "--") break;  // what follows is not an option
        if (arguments[i] == "-session" || arguments[i] == "--session") arguments[i] = "--open-session";
    }
    return arguments;
}

}  // namespace detox::ui
