// The safetensors reader and writer: round trips in every supported dtype, and every kind of corrupt
// file rejected with an error naming the file and the tensor.
#include <QtTest>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "detox/checkpoint/checkpoint.h"
#include "detox/error.h"
#include "fixtures.h"
#include "checkpoint/safetensors.h"

namespace {

std::string scratchFile(const char* name) { return (detox::test::scratchDir() + "/" + name).toStdString(); }

// A file with the given header text and `dataBytes` zero bytes of data.
std::string writeRaw(const std::string& path, const std::string& header, size_t dataBytes, uint64_t declaredLength = 0) {
    std::ofstream out(path, std::ios::binary);
    uint64_t length = declaredLength ? declaredLength : header.size();
    out.write(reinterpret_cast<const char*>(&length), 8);
    out << header;
    std::string data(dataBytes, '\0');
    out << data;
    return path;
}

// Expects readSafetensorsHeader and SafetensorsFile::open to throw a detox::Error mentioning every `parts`.
void expectRejected(const std::string& path, const std::vector<std::string>& parts) {
    for (int reader = 0; reader < 2; ++reader) {
        try {
            if (reader == 0)
                detox::readSafetensorsHeader(path);
            else
                detox::nn::SafetensorsFile::open(path);
            QFAIL(qPrintable(QString("accepted a corrupt file: ") + path.c_str()));
        } catch (const detox::Error& error) {
            std::string message = error.what();
            QVERIFY2(message.find(path) != std::string::npos, message.c_str());
            for (const auto& part : parts) QVERIFY2(message.find(part) != std::string::npos, message.c_str());
        }
    }
}

}  // namespace

class SafetensorsTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void roundTripsEveryDtype() {
        const std::string path = scratchFile("roundtrip.safetensors");
        torch::manual_seed(1);
        torch::Tensor a = torch::randn({3, 5});
        torch::Tensor b = torch::randn({7}).to(torch::kBFloat16);
        torch::Tensor c = torch::randn({2, 2, 2}).to(torch::kFloat16);
        torch::Tensor empty = torch::zeros({0, 4});
        detox::nn::writeSafetensors(path, {{"b.weight", b, "BF16"}, {"a.weight", a, "F32"}, {"c", c, "F16"},
                                           {"empty", empty, "F32"}});
        auto file = detox::nn::SafetensorsFile::open(path);
        QCOMPARE(file.header().metadata.at("format"), std::string("pt"));
        QCOMPARE(int(file.header().tensors.size()), 4);
        QVERIFY((8 + file.header().headerBytes) % 8 == 0);  // data section 8-byte aligned, as HF writes
        QVERIFY(torch::equal(file.readAsFloat(*file.find("a.weight")), a));
        QVERIFY(torch::equal(file.readRaw(*file.find("b.weight")), b));
        QVERIFY(torch::equal(file.readAsFloat(*file.find("b.weight")), b.to(torch::kFloat32)));
        QVERIFY(torch::equal(file.readRaw(*file.find("c")), c));
        QCOMPARE(file.readAsFloat(*file.find("empty")).sizes().vec(), std::vector<int64_t>({0, 4}));
        // Offsets follow name order and tile the data: a (60 bytes), b (14), c (16), empty (0).
        auto header = detox::readSafetensorsHeader(path);
        QCOMPARE(header.tensors[0].name, std::string("a.weight"));
        QCOMPARE(header.tensors[1].dataBegin, uint64_t(60));
        QCOMPARE(header.tensors[2].dataBegin, uint64_t(74));
        QCOMPARE(header.fileBytes, 8 + header.headerBytes + 90);
    }

    void float32IsZeroCopyAndReadOnly() {
        const std::string path = scratchFile("zerocopy.safetensors");
        detox::nn::writeSafetensors(path, {{"w", torch::arange(16, torch::kFloat32), "F32"}});
        auto file = detox::nn::SafetensorsFile::open(path);
        torch::Tensor first = file.readAsFloat(*file.find("w"));
        torch::Tensor second = file.readAsFloat(*file.find("w"));
        QCOMPARE(first.data_ptr(), second.data_ptr());  // both view the mapping
        QCOMPARE(first[15].item<float>(), 15.0f);
    }

    void readsFixtureHeader() {
        DETOX_REQUIRE_FIXTURE("tiny-hf/gpt2/model.safetensors");
        auto path = detox::test::fixturePath("tiny-hf/gpt2/model.safetensors").toStdString();
        auto header = detox::readSafetensorsHeader(path);
        QCOMPARE(int(header.tensors.size()), 28);
        QCOMPARE(header.headerBytes, uint64_t(2624));
        auto file = detox::nn::SafetensorsFile::open(path);
        auto* wte = file.find("transformer.wte.weight");
        QVERIFY(wte);
        QCOMPARE(wte->shape, std::vector<int64_t>({320, 64}));
    }

    void writerReplacesAtomically() {
        const std::string path = scratchFile("replace.safetensors");
        detox::nn::writeSafetensors(path, {{"x", torch::ones({2}), "F32"}});
        detox::nn::writeSafetensors(path, {{"y", torch::zeros({3}), "F16"}});
        auto header = detox::readSafetensorsHeader(path);
        QCOMPARE(int(header.tensors.size()), 1);
        QCOMPARE(header.tensors[0].name, std::string("y"));
        QCOMPARE(header.tensors[0].dtype, std::string("F16"));
    }

    void rejectsTruncatedFile() {
        const std::string good = scratchFile("good.safetensors");
        detox::nn::writeSafetensors(good, {{"layer.weight", torch::ones({64}), "F32"}});
        std::ifstream in(good, std::ios::binary);
        std::string bytes((std::istreambuf_iterator<char>(in)), {});
        const std::string truncated = scratchFile("truncated.safetensors");
        std::ofstream(truncated, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() - 10));
        expectRejected(truncated, {"layer.weight", "truncated"});
        const std::string tiny = scratchFile("tiny.safetensors");
        std::ofstream(tiny, std::ios::binary).write(bytes.data(), 5);
        expectRejected(tiny, {"too short"});
    }

    void rejectsAbsurdHeaderLength() {
        auto path = writeRaw(scratchFile("absurd.safetensors"), "{}", 0, 1ull << 40);
        expectRejected(path, {"header", "absurd"});
        path = writeRaw(scratchFile("beyond.safetensors"), "{}", 0, 1000);
        expectRejected(path, {"header", "exceeds the file size"});
    }

    void rejectsInvalidJson() {
        expectRejected(writeRaw(scratchFile("json.safetensors"), "{\"a\": [1,", 0), {"not valid JSON"});
        expectRejected(writeRaw(scratchFile("array.safetensors"), "[1, 2]", 0), {"must be an object"});
    }

    void rejectsOverlappingOffsets() {
        std::string header = R"({"first":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                             R"("second":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
        expectRejected(writeRaw(scratchFile("overlap.safetensors"), header, 12), {"tensor 'second'", "overlap"});
    }

    void rejectsGapsAndLeftovers() {
        std::string gap = R"({"first":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("second":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
        expectRejected(writeRaw(scratchFile("gap.safetensors"), gap, 12), {"tensor 'second'", "gap"});
        std::string leftover = R"({"only":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
        expectRejected(writeRaw(scratchFile("leftover.safetensors"), leftover, 12), {"belong to no tensor"});
    }

    void rejectsSizeMismatchAndBadShapes() {
        std::string wrongSize = R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})";
        expectRejected(writeRaw(scratchFile("size.safetensors"), wrongSize, 8), {"tensor 'w'", "shape x dtype needs 12"});
        std::string badShape = R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})";
        expectRejected(writeRaw(scratchFile("shape.safetensors"), badShape, 8), {"tensor 'w'", "non-negative"});
        std::string outside = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
        expectRejected(writeRaw(scratchFile("outside.safetensors"), outside, 8), {"tensor 'w'", "data section"});
        std::string huge = R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}})";
        expectRejected(writeRaw(scratchFile("huge.safetensors"), huge, 8), {"tensor 'w'", "too large"});
    }

    void rejectsUnknownDtype() {
        std::string header = R"({"__metadata__":{"format":"pt"},"ids":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})";
        expectRejected(writeRaw(scratchFile("dtype.safetensors"), header, 8), {"tensor 'ids'", "I64", "not supported"});
        std::string badMetadata = R"({"__metadata__":{"format":3}})";
        expectRejected(writeRaw(scratchFile("metadata.safetensors"), badMetadata, 0), {"__metadata__"});
    }

    void rejectsMissingFile() {
        try {
            detox::nn::SafetensorsFile::open("/nonexistent/model.safetensors");
            QFAIL("opened a missing file");
        } catch (const detox::Error& error) {
            QVERIFY(std::string(error.what()).find("/nonexistent/model.safetensors") != std::string::npos);
        }
    }
};

QTEST_GUILESS_MAIN(SafetensorsTest)
#include "test_safetensors.moc"
