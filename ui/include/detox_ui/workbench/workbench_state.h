// What the workbench is working on, in one object outside the views (as QGIS's QgsProject): the loaded
// model with its checkpoint facts and its edit session, the history of method runs on it, the dataset and
// the selected record. The main window wires the views to its signals; the views read it, never own it.
//
// Jobs copy the shared pointers they use (model, editor, dataset): a replaced model stays alive until the
// last job that holds it has stopped, so replacing it never waits. modelGeneration() tells a late result of
// an older model from a current one.
#pragma once
#include <QObject>
#include <QString>
#include <QVector>

#include <memory>
#include <optional>

#include "detox/checkpoint/checkpoint.h"
#include "detox/methods/methods.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/views/method_run.h"

namespace detox::ui {

class WorkbenchState : public QObject {
    Q_OBJECT
public:
    explicit WorkbenchState(QObject* parent = nullptr);

    // ---- the model and its edit session ----
    // A new model gets a new edit session (Reset mode: each run starts from the loaded weights) and an
    // empty run history. Null clears the model.
    void setModel(std::shared_ptr<detox::Model> model, std::optional<detox::CheckpointInfo> info = {});
    std::shared_ptr<detox::Model> model() const { return model_; }
    std::shared_ptr<detox::ModelEditor> editor() const { return editor_; }   // null without a model
    const std::optional<detox::CheckpointInfo>& checkpointInfo() const { return info_; }
    QString modelDirectory() const;
    quint64 modelGeneration() const { return generation_; }   // counts setModel calls

    // ---- the edit history ----
    // Every method run on this model in this session, oldest first. A run's edits are in the weights until
    // the next run (Reset mode) or an undo; hasEdits() asks the edit session itself.
    void addRun(const MethodRun& run);
    const QVector<MethodRun>& runs() const { return runs_; }
    bool hasEdits() const { return editor_ && editor_->hasEdits(); }
    // Call after ModelEditor::undoAll ran (on the model's job queue): the views show the loaded model again.
    void editsUndone();

    // ---- the dataset and the selection ----
    void setDataset(std::shared_ptr<const detox::SafeEditDataset> dataset, const QString& path);
    std::shared_ptr<const detox::SafeEditDataset> dataset() const { return dataset_; }
    QString datasetPath() const { return datasetPath_; }
    // Selects the record with this id (-1 or an id the dataset lacks: none). Emits only on a change.
    void selectRecord(int id);
    const detox::SafeEditRecord* selectedRecord() const;
    int selectedRecordId() const { return selectedRecord() ? selectedId_ : -1; }

signals:
    void modelChanged();
    void runAdded(const detox::ui::MethodRun& run);
    void editsChanged();          // a run landed or the edits were undone
    void datasetChanged();
    void selectionChanged();

private:
    std::shared_ptr<detox::Model> model_;
    std::shared_ptr<detox::ModelEditor> editor_;
    std::optional<detox::CheckpointInfo> info_;
    quint64 generation_ = 0;
    QVector<MethodRun> runs_;
    std::shared_ptr<const detox::SafeEditDataset> dataset_;
    QString datasetPath_;
    int selectedId_ = -1;
};

}  // namespace detox::ui
