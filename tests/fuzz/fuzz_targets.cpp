#include "fuzz_targets.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "checkpoint/safetensors.h"
#include "detox/checkpoint/checkpoint.h"
#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox/tokenizer/tokenizer.h"
#include "tiny_model.h"

namespace detox::fuzz {
namespace {

namespace fs = std::filesystem;

// A loaded model is run the way `detox generate` runs it: a short prompt, a forward and two new tokens.
void exerciseModel(const std::string& directory) {
    const Model model = Model::load(directory);
    const std::vector<std::vector<int>> prompt = {{1, 2, 3}};
    model.forward(prompt);
    GenerationSettings settings;
    settings.maxNewTokens = 2;
    model.generate(prompt, settings);
}

// A tiny Llama checkpoint in which one file is the input: read alone by its own reader, then checked
// against the rest of the checkpoint (inspectCheckpoint), loaded and run.
class CheckpointFileTarget : public FuzzTarget {
public:
    explicit CheckpointFileTarget(std::string fileName) : fileName_(std::move(fileName)) {}
    std::vector<std::string> prepare(const std::string& scratch) override {
        directory_ = scratch + "/checkpoint";
        test::writeTinyLlama(directory_, 1);
        fs::remove(directory_ + "/generation_config.json");  // config.json alone holds the special ids
        return {readFile(path())};
    }
    void run(const std::string& input) override {
        readBytes(input);  // most inputs are refused here, before a file is written
        writeInputFile(path(), input);
        readAlone(input);
        inspectCheckpoint(directory_);
        exerciseModel(directory_);
    }

protected:
    virtual void readBytes(const std::string&) {}
    virtual void readAlone(const std::string& input) = 0;
    std::string path() const { return directory_ + "/" + fileName_; }
    const std::string& directory() const { return directory_; }

private:
    std::string fileName_;
    std::string directory_;
};

// model.safetensors: the header parser on the raw bytes, then the file opened and every tensor read.
class SafetensorsTarget : public CheckpointFileTarget {
public:
    SafetensorsTarget() : CheckpointFileTarget("model.safetensors") {}
    size_t maxInputBytes() const override { return 512 * 1024; }

protected:
    void readBytes(const std::string& input) override {
        const auto* bytes = reinterpret_cast<const uint8_t*>(input.data());
        nn::parseSafetensorsHeader("fuzz.safetensors", bytes, input.size(), input.size());
    }
    void readAlone(const std::string&) override {
        const nn::SafetensorsFile file = nn::SafetensorsFile::open(path());
        for (const TensorEntry& entry : file.header().tensors) {
            file.readAsFloat(entry);
            file.readRaw(entry);
        }
    }
};

// config.json, with the tiny Llama's tensors.
class ConfigTarget : public CheckpointFileTarget {
public:
    ConfigTarget() : CheckpointFileTarget("config.json") {}

protected:
    void readAlone(const std::string&) override { readModelConfig(directory()); }
};

// tokenizer.json: loaded, then used as the workbench uses it (encode with and without special tokens,
// decode, every chat template, the ends of the vocabulary).
class TokenizerTarget : public FuzzTarget {
public:
    std::vector<std::string> prepare(const std::string& scratch) override {
        directory_ = scratch + "/tokenizer";
        fs::create_directories(directory_);
        test::writeByteLevelTokenizer(directory_);
        fs::remove(directory_ + "/tokenizer_config.json");
        return {readFile(directory_ + "/tokenizer.json")};
    }
    void run(const std::string& input) override {
        const std::string path = directory_ + "/tokenizer.json";
        writeInputFile(path, input);
        const Tokenizer tokenizer = Tokenizer::fromFiles(path);
        for (const char* text : {"Hello world", " caf\xc3\xa9 \xe2\x80\x94 \xf0\x9f\x98\x80\n\t", "<|endoftext|><s></s>",
                                 "\xff\xfe invalid", ""}) {
            for (bool special : {true, false}) tokenizer.decode(tokenizer.encode(text, special), !special);
        }
        for (ChatTemplate format : allChatTemplates())
            tokenizer.encode(tokenizer.applyChatTemplate("How do I bake bread?", format, "Be brief."), false);
        const int vocab = tokenizer.vocabSize();
        for (int id : {0, vocab / 2, vocab - 1}) {
            if (id < 0) continue;
            tokenizer.idToToken(id);
            tokenizer.decode({id}, false);
        }
    }

private:
    std::string directory_;
};

// A SafeEdit JSON file: parsed and validated, summarised as `detox data` does, ids listed for a message.
class SafeEditTarget : public FuzzTarget {
public:
    std::vector<std::string> prepare(const std::string&) override { return {}; }
    void run(const std::string& input) override {
        const SafeEditDataset dataset = parseSafeEdit(input, "fuzz.json");
        summarize(dataset);
        idHint(dataset);
        if (!dataset.records.empty()) dataset.findById(dataset.records.front().id);
    }
};

}  // namespace

void writeInputFile(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

void useOneThread() { torch::set_num_threads(1); }

std::vector<std::string> fuzzTargetNames() { return {"safetensors", "config", "tokenizer", "safeedit", "result", "session"}; }

std::unique_ptr<FuzzTarget> makeFuzzTarget(const std::string& name) {
    if (name == "safetensors") return std::make_unique<SafetensorsTarget>();
    if (name == "config") return std::make_unique<ConfigTarget>();
    if (name == "tokenizer") return std::make_unique<TokenizerTarget>();
    if (name == "safeedit") return std::make_unique<SafeEditTarget>();
    if (name == "result") return makeResultTarget();
    if (name == "session") return makeSessionTarget();
    return nullptr;
}

}  // namespace detox::fuzz
