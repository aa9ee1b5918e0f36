#include "detox_ui/workbench/workbench_state.h"

namespace detox::ui {

WorkbenchState::WorkbenchState(QObject* parent) : QObject(parent) {}

void WorkbenchState::setModel(std::shared_ptr<detox::Model> model, std::optional<detox::CheckpointInfo> info) {
    model_ = std::move(model);
    // The previous session stays with the jobs that still hold it; this model starts unedited.
    editor_ = model_ ? std::make_shared<detox::ModelEditor>(*model_, detox::EditMode::Reset) : nullptr;
    info_ = model_ ? std::move(info) : std::nullopt;
    runs_.clear();
    ++generation_;
    emit modelChanged();
    emit editsChanged();
}

QString WorkbenchState::modelDirectory() const {
    return model_ ? QString::fromStdString(model_->directory()) : QString();
}

void WorkbenchState::addRun(const MethodRun& run) {
    runs_.append(run);
    emit runAdded(run);
    emit editsChanged();
}

void WorkbenchState::editsUndone() { emit editsChanged(); }

void WorkbenchState::setDataset(std::shared_ptr<const detox::SafeEditDataset> dataset, const QString& path) {
    dataset_ = std::move(dataset);
    datasetPath_ = dataset_ ? path : QString();
    emit datasetChanged();
    // The selection names a record of the old dataset: it is kept only if the new one has that id.
    const int previous = selectedId_;
    selectedId_ = -1;
    selectRecord(previous);
    if (selectedId_ == -1 && previous != -1) emit selectionChanged();
}

void WorkbenchState::selectRecord(int id) {
    if (id == selectedId_ && selectedRecord()) return;
    const int previous = selectedId_;
    selectedId_ = id;
    if (!selectedRecord()) selectedId_ = -1;
    if (selectedId_ != previous) emit selectionChanged();
}

const detox::SafeEditRecord* WorkbenchState::selectedRecord() const {
    return dataset_ && selectedId_ >= 0 ? dataset_->findById(selectedId_) : nullptr;
}

}  // namespace detox::ui
