// Model: loading a checkpoint into Model::Impl, the public (torch-free) API, saving.
#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "detox/checkpoint/save_folder.h"
#include "detox/runtime/finite.h"
#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/hash.h"
#include "detox/version.h"
#include "runtime/finite_scan.h"
#include "runtime/float_tensor.h"
#include "runtime/interventions.h"
#include "runtime/transformer.h"

namespace detox {
namespace fs = std::filesystem;
using namespace detox::nn;

// ---- small public helpers ----

int64_t FloatTensor::numel() const {
    int64_t count = 1;
    for (auto dim : shape) count *= dim;
    return count;
}

float FloatTensor::at(const std::vector<int64_t>& index) const {
    if (index.size() != shape.size()) throw std::out_of_range("FloatTensor::at: wrong number of indices");
    int64_t flat = 0;
    for (size_t d = 0; d < shape.size(); ++d) {
        if (index[d] < 0 || index[d] >= shape[d]) throw std::out_of_range("FloatTensor::at: index outside the shape");
        flat = flat * shape[d] + index[d];
    }
    return values[static_cast<size_t>(flat)];
}

namespace {
const char* const kCaptureNames[] = {"resid_pre", "resid_mid", "resid_post", "attn_out", "mlp_out", "mlp_act",
                                     "attn_pattern"};
const char* const kSaveMarker = "detox_save.json";
}  // namespace

std::string captureName(Capture point) { return kCaptureNames[static_cast<int>(point)]; }

std::optional<Capture> captureFromName(const std::string& name) {
    for (Capture point : allCaptures())
        if (captureName(point) == name) return point;
    return std::nullopt;
}

std::vector<Capture> allCaptures() {
    return {Capture::ResidPre, Capture::ResidMid, Capture::ResidPost, Capture::AttnOut,
            Capture::MlpOut,   Capture::MlpAct,   Capture::AttnPattern};
}

std::string captureKey(Capture point, int layer) { return captureName(point) + "." + std::to_string(layer); }

namespace {

bool endsWith(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct StoredTensor {
    const SafetensorsFile* file;
    const TensorEntry* entry;
};

// Checks that every tensor the index names is in the shard it names.
void checkShardIndex(const std::string& directory, const std::map<std::string, StoredTensor>& stored) {
    const std::string indexPath = (fs::path(directory) / "model.safetensors.index.json").string();
    if (fs::exists(fs::path(directory) / "model.safetensors") || !fs::exists(indexPath)) return;
    nlohmann::json index = nlohmann::json::parse(readFile(indexPath));
    for (const auto& [name, file] : index["weight_map"].items()) {
        auto it = stored.find(name);
        if (it == stored.end() || fs::path(it->second.entry->file).filename() != file.get<std::string>())
            throw Error(indexPath, "weight_map." + name, "tensor is not in shard " + file.get<std::string>());
    }
}

}  // namespace

// ---- loading ----

std::string weightModeName(WeightMode mode) {
    switch (mode) {
        case WeightMode::Auto: return "auto";
        case WeightMode::F32: return "f32";
        case WeightMode::Stored: return "stored";
    }
    return "auto";
}

std::optional<WeightMode> weightModeFromName(const std::string& name) {
    for (WeightMode mode : {WeightMode::Auto, WeightMode::F32, WeightMode::Stored})
        if (weightModeName(mode) == name) return mode;
    return std::nullopt;
}

torch::Device deviceFromName(const std::string& name) {
    std::optional<torch::Device> device;
    try {
        device = torch::Device(name);
    } catch (const std::exception&) {
    }
    if (!device || !(device->is_cpu() || device->is_cuda()))
        throw Error("", "device", "'" + name + "' is not a device: use cpu, cuda or cuda:N");
    if (device->is_cuda()) {
        if (!torch::cuda::is_available())
            throw Error("", "device",
                        "'" + name + "' needs a CUDA build of LibTorch, and this one (" + std::string(TORCH_VERSION) +
                            ") is CPU-only (as Debian's is). Rebuild against a CUDA LibTorch: cmake -B build "
                            "-DCMAKE_PREFIX_PATH=/path/to/libtorch (the cxx11-ABI CUDA zip from pytorch.org; see "
                            "README, 'CUDA build')");
        const int count = static_cast<int>(torch::cuda::device_count());
        if (device->has_index() && device->index() >= count)
            throw Error("", "device", "'" + name + "': this machine has " + std::to_string(count) + " CUDA device(s)");
        if (!device->has_index()) device = torch::Device(torch::kCUDA, 0);
    }
    return *device;
}

namespace {

std::string mib(long long bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

std::string checkDevice(const std::string& device) { return deviceFromName(device).str(); }

WeightMode resolveWeightMode(const CheckpointInfo& info, WeightMode requested, bool onCuda) {
    const std::string& directory = info.directory;
    const MemoryEstimate& memory = info.memory;
    const std::string f32Need = "f32 weights need about " + mib(memory.totalBytes) + " (" + mib(memory.weightBytes) +
                                " + working memory)";
    const std::string storedNeed = "stored-dtype weights about " + mib(memory.storedTotalBytes) + " (" +
                                   mib(memory.storedWeightBytes) + " + working memory)";
    const std::string available = mib(memory.availableBytes) + " are available";
    if (onCuda) return requested == WeightMode::F32 ? WeightMode::F32 : WeightMode::Stored;  // host RAM is not the limit
    switch (requested) {
        case WeightMode::F32:
            if (memory.fitsF32()) return WeightMode::F32;
            throw Error(directory, "memory",
                        f32Need + " but only " + available +
                            (memory.fitsStored() ? "; --weights stored would fit (" + storedNeed + ")"
                                                 : "; --weights stored would not fit either (" + storedNeed + ")"));
        case WeightMode::Stored:
            if (memory.fitsStored()) return WeightMode::Stored;
            throw Error(directory, "memory", storedNeed + " but only " + available + "; no mode fits");
        case WeightMode::Auto:
            if (memory.prefersF32()) return WeightMode::F32;
            if (memory.fitsStored()) return WeightMode::Stored;
            throw Error(directory, "memory", "neither mode fits: " + f32Need + ", " + storedNeed + ", but only " + available);
    }
    return WeightMode::F32;
}

std::shared_ptr<Model::Impl> loadModelImpl(const std::string& directory, const LoadOptions& options, JobControl& job) {
    const torch::Device device = deviceFromName(options.device);
    job.report({0, 0, "reading " + directory, {}});
    CheckpointInfo info = inspectCheckpoint(directory);
    const WeightMode mode = resolveWeightMode(info, options.weights, device.is_cuda());
    const long long needed = mode == WeightMode::F32 ? info.memory.totalBytes : info.memory.storedTotalBytes;
    job.report({0, 0, "memory estimate (" + weightModeName(mode) + " weights): " + mib(needed) + " needed, " +
                          mib(info.memory.availableBytes) + " available",
                {{"memory_needed_bytes", double(needed)},
                 {"memory_available_bytes", double(info.memory.availableBytes)}}});
    auto impl = std::make_shared<Model::Impl>(info.config);
    impl->directory = directory;
    impl->weightMode = mode;
    impl->device = device;
    // CPU: float32 compute (no fast half-precision GEMM here). CUDA: bfloat16 compute, unless f32 was asked for.
    impl->computeDtype = device.is_cuda() && mode == WeightMode::Stored ? torch::kBFloat16 : torch::kFloat32;
    if (impl->ropeInverseFrequencies.defined()) impl->ropeInverseFrequencies = impl->ropeInverseFrequencies.to(device);

    std::vector<SafetensorsFile> files;
    for (const auto& path : checkpointWeightFiles(directory)) files.push_back(SafetensorsFile::open(path));
    impl->weightFiles.clear();
    std::map<std::string, StoredTensor> stored;
    for (const auto& file : files) {
        impl->weightFiles.push_back(file.header().path);
        for (const auto& entry : file.header().tensors) {
            if (stored.count(entry.name))
                throw Error(file.header().path, "tensor '" + entry.name + "'", "also stored in " + stored[entry.name].entry->file);
            stored[entry.name] = {&file, &entry};
        }
    }
    checkShardIndex(directory, stored);

    const std::string firstFile = files.front().header().path;
    std::set<std::string> used;
    int step = 0;
    const int total = static_cast<int>(impl->parameters.size());
    for (auto& [name, slot] : impl->parameters) {
        job.checkpoint();
        auto it = stored.find(name);
        if (it == stored.end() && !impl->spec->alternativePrefix.empty() && name.rfind(impl->spec->alternativePrefix, 0) == 0)
            it = stored.find(name.substr(impl->spec->alternativePrefix.size()));
        if (it == stored.end())
            throw Error(files.size() == 1 ? firstFile : directory, "tensor '" + name + "'",
                        "missing (config.json's " + impl->config.hfArchitecture + " needs it)");
        const TensorEntry& entry = *it->second.entry;
        if (entry.shape != slot.storedShape)
            throw Error(entry.file, "tensor '" + entry.name + "'",
                        "shape " + c10::str(c10::IntArrayRef(entry.shape)) + " does not match config.json (expected " +
                            c10::str(c10::IntArrayRef(slot.storedShape)) + ")");
        // Stored mode keeps matrices as mapped; small tensors (norms, biases) are converted either way.
        const bool keepStored = mode == WeightMode::Stored && entry.shape.size() >= 2;
        // Scanned before a converting read releases the mapped pages, so the bytes are read only once more.
        const StoredBytesScan scan =
            scanStoredBytes(it->second.file->rawAddress(entry), size_t(entry.dataEnd - entry.dataBegin), entry.dtype);
        impl->storedBytesDigest += entry.name + "=" + std::to_string(scan.digest) + ";";
        torch::Tensor value = keepStored ? it->second.file->readRaw(entry) : it->second.file->readAs(entry, impl->computeDtype);
        if (!device.is_cpu()) value = value.to(device, keepStored ? value.scalar_type() : impl->computeDtype);
        *slot.value = slot.transposed ? value.t() : value;
        slot.storedName = entry.name;
        slot.storedDtype = entry.dtype;
        slot.ownsMemory = !device.is_cpu() || (value.scalar_type() != scalarTypeOf(entry.dtype)) ||
                          value.data_ptr() != it->second.file->rawAddress(entry);
        const bool finite = scan.finite ? *scan.finite : allFinite(value);  // other dtypes: the loaded value
        if (!finite) impl->nonFiniteAtLoad.push_back(entry.name);
        used.insert(entry.name);
        job.report({++step, total, "loading " + entry.name, {}});
    }
    for (const auto& [name, tensor] : stored) {
        if (used.count(name)) continue;
        bool ignored = std::any_of(impl->spec->ignoredSuffixes.begin(), impl->spec->ignoredSuffixes.end(),
                                   [&](const auto& suffix) { return endsWith(name, suffix); });
        bool tiedHead = impl->config.tiedEmbeddings && name == impl->spec->lmHead + ".weight";
        if (!ignored && !tiedHead)
            throw Error(tensor.entry->file, "tensor '" + name + "'", "not part of a " + impl->config.hfArchitecture);
    }
    impl->config.storedDtype = info.config.storedDtype;
    impl->allowNonFinite = options.allowNonFiniteWeights;
    if (!impl->nonFiniteAtLoad.empty()) {
        const std::string warning = nonFiniteWeightsWarning(directory, impl->nonFiniteAtLoad);
        if (options.onWarning) options.onWarning(warning);
        job.report({total, total, warning, {}});
    }
    if (fs::exists(fs::path(directory) / "tokenizer.json")) impl->tokenizer = Tokenizer::fromDirectory(directory);
    if (impl->tokenizer && impl->tokenizer->vocabSize() > impl->config.vocabSize)
        throw Error((fs::path(directory) / "tokenizer.json").string(), "vocabulary",
                    "holds token ids up to " + std::to_string(impl->tokenizer->vocabSize() - 1) +
                        " but config.json's vocab_size is " + std::to_string(impl->config.vocabSize) +
                        " (the embedding has no row for them)");
    return impl;
}

std::shared_ptr<Model::Impl> randomModelImpl(const ModelConfig& config, uint64_t seed) {
    auto impl = std::make_shared<Model::Impl>(config);
    torch::manual_seed(seed);
    torch::NoGradGuard noGrad;
    for (auto& [name, slot] : impl->parameters) {
        std::vector<int64_t> computeShape = slot.storedShape;
        if (slot.transposed) std::swap(computeShape[0], computeShape[1]);
        bool normWeight = computeShape.size() == 1 && endsWith(name, ".weight");
        torch::Tensor value = normWeight ? torch::ones(computeShape)
                              : computeShape.size() == 1 ? torch::zeros(computeShape)
                                                         : torch::randn(computeShape) * 0.02;
        if (slot.transposed) value = value.t().contiguous().t();  // same strides as a loaded Conv1D view
        *slot.value = value;
        slot.ownsMemory = true;
    }
    impl->config.storedDtype = "F32";
    return impl;
}

Model modelFromImpl(std::shared_ptr<Model::Impl> impl) { return Model(std::move(impl)); }

// ---- public API ----

Model Model::load(const std::string& directory, JobControl& job) { return load(directory, LoadOptions{}, job); }
Model Model::load(const std::string& directory, const LoadOptions& options, JobControl& job) {
    return Model(loadModelImpl(directory, options, job));
}

Model::Impl& Model::impl() { return *impl_; }
const Model::Impl& Model::impl() const { return *impl_; }
const ModelConfig& Model::config() const { return impl_->config; }
bool Model::hasTokenizer() const { return impl_->tokenizer.has_value(); }
const Tokenizer& Model::tokenizer() const {
    if (!impl_->tokenizer) throw Error(impl_->directory, "tokenizer.json", "this checkpoint has no tokenizer");
    return *impl_->tokenizer;
}
std::string Model::directory() const { return impl_->directory; }
long long Model::parameterCount() const { return impl_->parameterCount(); }
long long Model::weightBytes() const { return impl_->weightBytes(); }
WeightMode Model::weightMode() const { return impl_->weightMode; }
std::string Model::device() const { return impl_->device.str(); }
std::string Model::weightsDescription() const {
    const std::string dtype = impl_->config.storedDtype.empty() ? "F32" : impl_->config.storedDtype;
    const std::string resident = impl_->computeDtype == torch::kFloat32 ? "f32" : "bf16";  // CUDA computes in BF16
    std::string description = (impl_->weightMode == WeightMode::Stored ? "stored-dtype (" + dtype + ")" : resident) +
                              " weights on " + device();
    const auto& nonFinite = impl_->nonFiniteAtLoad;
    if (!nonFinite.empty() && impl_->allowNonFinite) {
        description += "; NaN/Inf allowed in " + std::to_string(nonFinite.size()) + " tensor(s): ";
        for (size_t i = 0; i < nonFinite.size(); ++i) description += (i ? ", " : "") + nonFinite[i];
    }
    return description;
}
const std::vector<std::string>& Model::nonFiniteWeightsAtLoad() const { return impl_->nonFiniteAtLoad; }
bool Model::nonFiniteWeightsAllowed() const { return impl_->allowNonFinite; }

ForwardOutput Model::forward(const std::vector<std::vector<int>>& batch, const CaptureRequest& request) const {
    c10::InferenceMode inference;
    TokenBatch tokens = padTokens(batch, false, 0, impl_->config.vocabSize);
    checkRunFits(impl_->config, impl_->directory, tokens.ids.size(0), tokens.ids.size(1), 0,
                 request.logits && !request.lastPositionLogitsOnly);
    CaptureSet captures(request.points, request.layers, impl_->config.numLayers);
    const auto interventions = makeInterventions(*impl_, request.interventions, tokens.lengths);
    if (interventions) captures.interventions = interventions->step(tokens.mask, tokens.ids.size(1));
    AttentionInputs attention = impl_->attentionInputs(tokens.mask, tokens.ids.size(1));
    torch::Tensor hidden = impl_->runLayers(impl_->embed(tokens.ids, attention.positions), 0, impl_->config.numLayers,
                                            attention, &captures);
    ForwardOutput output;
    output.lengths = tokens.lengths;
    if (request.logits) {
        if (request.lastPositionLogitsOnly) {
            torch::Tensor last =
                torch::tensor(std::vector<int64_t>(tokens.lengths.begin(), tokens.lengths.end())).to(hidden.device()) - 1;
            hidden = hidden.gather(1, last.view({-1, 1, 1}).expand({hidden.size(0), 1, hidden.size(2)}));
        }
        output.logits = toFloatTensor(impl_->logitLens(hidden));
    }
    for (const auto& [key, value] : captures.tensors) output.captures[key] = toFloatTensor(value);
    return output;
}

std::vector<Generation> Model::generate(const std::vector<std::vector<int>>& prompts,
                                        const GenerationSettings& settings, JobControl& job) const {
    return generateTokens(*impl_, prompts, settings, job);
}

FloatTensor Model::logitLens(const FloatTensor& residual) const {
    if (residual.shape.empty() || residual.shape.back() != impl_->config.hiddenSize)
        throw Error("", "residual", "last dimension must be the hidden size " + std::to_string(impl_->config.hiddenSize));
    c10::InferenceMode inference;
    return toFloatTensor(impl_->logitLens(fromFloatTensor(residual, "residual").to(impl_->device, impl_->computeDtype)));
}

std::vector<std::string> Model::parameterNames() const { return impl_->parameterNames(); }

FloatTensor Model::parameter(const std::string& hfName) const { return toFloatTensor(impl_->storedLayout(hfName)); }

void Model::setParameter(const std::string& hfName, const FloatTensor& value) {
    const ParameterSlot& slot = impl_->slot(hfName);
    if (value.shape != slot.storedShape)
        throw Error(impl_->directory, "parameter '" + hfName + "'",
                    "shape " + c10::str(c10::IntArrayRef(value.shape)) + " does not match the stored " +
                        c10::str(c10::IntArrayRef(slot.storedShape)));
    torch::Tensor tensor = fromFloatTensor(value, "parameter '" + hfName + "'");
    impl_->replaceParameter(hfName, slot.transposed ? tensor.t() : tensor);
}

// ---- content hash ----

std::string Model::contentHash() const {
    std::string material;
    if (!impl_->directory.empty()) {
        material += sha256File((fs::path(impl_->directory) / "config.json").string());
        for (const auto& path : impl_->weightFiles) {
            SafetensorsHeader header = readSafetensorsHeader(path);
            material += fs::path(path).filename().string() + ":" + std::to_string(header.fileBytes) + ":";
            for (const auto& entry : header.tensors)
                material += entry.name + "," + entry.dtype + "," + std::to_string(entry.dataBegin) + ";";
        }
        material += impl_->storedBytesDigest;  // the weights themselves: two trainings of one shape differ
    }
    for (const auto& [name, slot] : impl_->parameters) {
        if (!slot.edited && !impl_->directory.empty()) continue;
        // Edited tensors are computeDtype overrides; hashed as float32 so that the hash does not depend on
        // the weight mode or device.
        torch::Tensor bytes = impl_->storedLayout(name).detach().to(torch::kCPU, torch::kFloat32).contiguous();
        material += name + "=" +
                    sha256Hex(std::string_view(static_cast<const char*>(bytes.data_ptr()),
                                               static_cast<size_t>(bytes.numel()) * sizeof(float))) +
                    ";";
    }
    return sha256Hex(material);
}

// ---- saving ----

namespace {

constexpr long long kMaxShardBytes = 5'000'000'000;  // as HF's default max_shard_size "5GB"

}  // namespace

void Model::save(const std::string& newDirectory, JobControl& job) const {
    const Impl& model = *impl_;
    // Written into a sibling temporary folder, put in place as a whole by commit() (save_folder.h).
    checkSaveDirectory(model.directory, newDirectory);
    if (!model.allowNonFinite) requireFiniteParameters(*this, newDirectory, "to save");
    SaveFolder folder(newDirectory);
    const fs::path target(folder.path());

    // Shards in name order, each at most kMaxShardBytes (a single file when it all fits).
    std::vector<std::vector<TensorToWrite>> shards(1);
    long long shardBytes = 0, totalBytes = 0;
    std::map<std::string, ParameterSlot> byStoredName;
    for (const auto& [name, slot] : model.parameters) byStoredName[slot.storedName] = slot;
    for (const auto& [storedName, slot] : byStoredName) {
        long long bytes = slot.value->numel() * static_cast<long long>(dtypeBytes(slot.storedDtype));
        if (shardBytes > 0 && shardBytes + bytes > kMaxShardBytes) {
            shards.emplace_back();
            shardBytes = 0;
        }
        shards.back().push_back({storedName, model.storedLayout(slot.name), slot.storedDtype});
        shardBytes += bytes;
        totalBytes += bytes;
    }
    std::set<std::string> written;
    nlohmann::json weightMap = nlohmann::json::object();
    for (size_t i = 0; i < shards.size(); ++i) {
        job.checkpoint();
        char shardName[64];
        std::snprintf(shardName, sizeof shardName, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
        std::string fileName = shards.size() == 1 ? "model.safetensors" : shardName;
        job.report({static_cast<int>(i), static_cast<int>(shards.size()), "writing " + fileName, {}});
        writeSafetensors((target / fileName).string(), shards[i]);
        written.insert(fileName);
        for (const auto& tensor : shards[i]) weightMap[tensor.name] = fileName;
    }
    if (shards.size() > 1) {
        nlohmann::json index = {{"metadata", {{"total_size", totalBytes}}}, {"weight_map", weightMap}};
        writeFileAtomically((target / "model.safetensors.index.json").string(), index.dump(2) + "\n");
        written.insert("model.safetensors.index.json");
    }
    // config, tokenizer and generation settings are copied unchanged (a model built in memory writes its config).
    if (model.directory.empty()) {
        writeFileAtomically((target / "config.json").string(), modelConfigJson(model.config));
        written.insert("config.json");
    } else {
        for (const char* name : {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                 "special_tokens_map.json", "tokenizer.model", "vocab.json", "merges.txt",
                                 "added_tokens.json"}) {
            fs::path source = fs::path(model.directory) / name;
            if (!fs::exists(source)) continue;
            writeFileAtomically((target / name).string(), readFile(source.string()));
            written.insert(name);
        }
    }
    // Edited tensors of a BF16/F16 checkpoint were held as F32 overrides and written rounded to nearest even.
    nlohmann::json rounded = nlohmann::json::array();
    for (const auto& [storedName, slot] : byStoredName)
        if (slot.rounded()) rounded.push_back(storedName);
    nlohmann::json marker = {{"saved_by", "detox workbench " + appVersion()},
                             {"source", model.directory},
                             {"content_hash", contentHash()},
                             {"weights", weightsDescription()},
                             {"rounded_tensors", rounded}};
    if (!rounded.empty())
        marker["rounding"] = "edited tensors were computed in float32 and written in their stored dtype, rounded to "
                             "nearest even";
    written.insert(kSaveMarker);
    marker["files"] = written;  // what a later save may replace: every other file is the user's
    writeFileAtomically((target / kSaveMarker).string(), marker.dump(2) + "\n");
    folder.commit();
    job.report({static_cast<int>(shards.size()), static_cast<int>(shards.size()), "saved " + newDirectory, {}});
}

}  // namespace detox
