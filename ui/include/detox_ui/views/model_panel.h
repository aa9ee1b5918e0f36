// The Model dock: what the loaded checkpoint is (architecture, layers, hidden size, parameters, dtype,
// memory estimate, path) and whether it holds unsaved edits. Display only; MainWindow loads models.
#pragma once
#include <QWidget>

#include "detox/checkpoint/checkpoint.h"

class QFormLayout;
class QLabel;

namespace detox::ui {

// "1.2 GB", "340 MB", "12 KB"
QString formatBytes(long long bytes);
// "6.74 B", "124.4 M", "2.1 K"
QString formatCount(long long count);

class ModelPanel : public QWidget {
    Q_OBJECT
public:
    explicit ModelPanel(QWidget* parent = nullptr);

    void showLoading(const QString& directory);
    void showModel(const detox::CheckpointInfo& info, long long parameters, long long weightBytes);
    void showFailure(const QString& directory, const QString& message);
    void setEdited(bool edited);       // "edited (unsaved)" vs "as loaded"

    // Field values as shown, by key: "architecture", "layers", "hidden", "parameters", "dtype",
    // "memory", "path", "state".
    QString field(const QString& key) const;
    QLabel* headline() const { return headline_; }

private:
    QLabel* addField(const QString& key, const QString& title);

    QLabel* headline_ = nullptr;
    QFormLayout* form_ = nullptr;
    QWidget* details_ = nullptr;
    QMap<QString, QLabel*> fields_;
};

}  // namespace detox::ui
