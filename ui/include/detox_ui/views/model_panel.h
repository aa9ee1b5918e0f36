// The Model dock: what the loaded checkpoint is (architecture, layers, hidden size, parameters, dtype,
// how its weights are held and where, memory, path) and whether it holds unsaved edits; and the load
// options (weight mode, device) the next File > Open Model uses. MainWindow loads models.
#pragma once
#include <QWidget>

#include "detox/checkpoint/checkpoint.h"
#include "detox/runtime/model.h"

class QCheckBox;
class QComboBox;
class QFormLayout;
class QLabel;
class QPushButton;

namespace detox::ui {

// "1.2 GB", "340 MB", "12 KB"
QString formatBytes(long long bytes);
// "6.74 B", "124.4 M", "2.1 K"
QString formatCount(long long count);
// What the panel says of NaN/Inf weights found at load (empty for a sound model).
QString nonFiniteWarning(const detox::Model& model);

class ModelPanel : public QWidget {
    Q_OBJECT
public:
    explicit ModelPanel(QWidget* parent = nullptr);

    void showLoading(const QString& directory);
    void showModel(const detox::CheckpointInfo& info, const detox::Model& model);
    void showFailure(const QString& directory, const QString& message);
    void setEdited(bool edited);       // "edited (unsaved)" vs "as loaded"

    // Field values as shown, by key: "architecture", "layers", "hidden", "parameters", "dtype",
    // "weights" (mode and device as loaded), "memory", "path", "state", "warning" (NaN/Inf weights found at
    // load: which tensors, and that edits and saves are refused unless allowed; empty for a sound model).
    QString field(const QString& key) const;
    QLabel* headline() const { return headline_; }

    // The options of the next load: weights auto / f32 / stored (detox/runtime/model.h WeightMode) and the
    // device. A device this build cannot use is listed disabled, its tooltip saying what to rebuild with.
    detox::LoadOptions loadOptions() const;
    QComboBox* weightModeCombo() const { return weightMode_; }   // data: weightModeName
    QComboBox* deviceCombo() const { return device_; }           // data: "cpu", "cuda"
    QCheckBox* allowNonFiniteCheck() const { return allowNonFinite_; }  // LoadOptions::allowNonFiniteWeights
    QPushButton* reloadButton() const { return reload_; }

signals:
    // "Reload with these options": the loaded model's directory again, with loadOptions().
    void reloadRequested();

private:
    QLabel* addField(const QString& key, const QString& title);
    QWidget* buildLoadOptions();

    QLabel* headline_ = nullptr;
    QFormLayout* form_ = nullptr;
    QWidget* details_ = nullptr;
    QMap<QString, QLabel*> fields_;
    QComboBox* weightMode_ = nullptr;
    QComboBox* device_ = nullptr;
    QCheckBox* allowNonFinite_ = nullptr;
    QPushButton* reload_ = nullptr;
};

}  // namespace detox::ui
