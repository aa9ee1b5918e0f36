// ModelEditor: editing sessions (reset or sequential) with undo back to the loaded model, kept as
// snapshots of the tensors the methods touched (no reload from disk).
#include "detox/error.h"
#include "detox/runtime/finite.h"
#include "methods/method_common.h"

namespace detox {
using namespace detox::nn;

struct ModelEditor::State {
    Model model;
    EditMode mode;
    ParameterSnapshot originals;  // first-seen value of every touched tensor
};

ModelEditor::ModelEditor(Model model, EditMode mode) : state_(std::make_unique<State>(State{std::move(model), mode, {}})) {}
ModelEditor::~ModelEditor() = default;

EditMode ModelEditor::mode() const { return state_->mode; }
void ModelEditor::setMode(EditMode mode) { state_->mode = mode; }
Model& ModelEditor::model() { return state_->model; }

void ModelEditor::beginEdit(const std::vector<std::string>& names) {
    requireEditableWeights(state_->model);  // NaN/Inf weights from the checkpoint would spread through training
    if (state_->mode == EditMode::Reset) undoAll();
    std::vector<std::string> fresh;
    for (const auto& name : names) {
        const std::string canonical = state_->model.impl().slot(name).name;
        if (!state_->originals.entries.count(canonical)) fresh.push_back(canonical);
    }
    ParameterSnapshot added = state_->model.impl().snapshot(fresh);
    for (auto& [name, entry] : added.entries) state_->originals.entries[name] = std::move(entry);
}

EditResult ModelEditor::dinm(const SafeEditRecord& record, const DinmSettings& settings, JobControl& job) {
    Model& model = state_->model;
    DinmInputs inputs = dinmInputs(model.tokenizer(), record, settings);
    // Locate on the model the edit will start from.
    if (state_->mode == EditMode::Reset) undoAll();
    int layer = settings.layer ? *settings.layer : locateToxicLayer(model, record, dinmLocateVariant(settings)).toxicLayer;
    EditResult result = dinm(inputs, layer, settings, job);
    result.settings["record_id"] = record.id;
    return result;
}

EditResult ModelEditor::dinm(const DinmInputs& inputs, int layer, const DinmSettings& settings, JobControl& job) {
    beginEdit(dinmTrainedTensors(state_->model, layer, settings));
    EditResult result = runDinm(state_->model, inputs, layer, settings, job);
    result.settings["edit_mode"] = editModeName(state_->mode);
    return result;
}

EditResult ModelEditor::sft(const std::vector<TrainingPair>& pairs, const SftSettings& settings, JobControl& job) {
    beginEdit(selectParameters(state_->model, settings.parameters));
    EditResult result = trainSft(state_->model, pairs, settings, job);
    result.settings["edit_mode"] = editModeName(state_->mode);
    return result;
}

EditResult ModelEditor::dpo(const std::vector<PreferencePair>& pairs, const DpoSettings& settings, JobControl& job) {
    beginEdit(selectParameters(state_->model, settings.parameters));
    EditResult result = trainDpo(state_->model, pairs, settings, job);
    result.settings["edit_mode"] = editModeName(state_->mode);
    return result;
}

void ModelEditor::undoAll() {
    state_->model.impl().restore(state_->originals);
}

bool ModelEditor::hasEdits() const {
    const Model::Impl& impl = state_->model.impl();
    torch::NoGradGuard noGrad;
    for (const auto& [name, entry] : state_->originals.entries) {
        const torch::Tensor& now = impl.heldParameter(name);
        if (now.is_same(entry.value)) continue;
        // An edit's override is computeDtype while the original may be a stored-dtype view: compare values.
        if (now.scalar_type() != entry.value.scalar_type() ? !torch::equal(now.to(torch::kFloat32), entry.value.to(torch::kFloat32))
                                                           : !torch::equal(now, entry.value))
            return true;
    }
    return false;
}

std::vector<std::string> ModelEditor::touchedTensors() const {
    std::vector<std::string> names;
    for (const auto& [name, entry] : state_->originals.entries) names.push_back(name);
    return names;
}

std::optional<FloatTensor> ModelEditor::originalParameter(const std::string& hfName) const {
    const std::string canonical = state_->model.impl().slot(hfName).name;
    auto it = state_->originals.entries.find(canonical);
    if (it == state_->originals.entries.end()) return std::nullopt;
    const ParameterSlot& slot = state_->model.impl().slot(canonical);
    return toFloatTensor(slot.transposed ? it->second.value.t() : it->second.value);
}

}  // namespace detox
