// SafeEdit loading: the real sample files, the layouts the published splits use, the demo dataset, and
// every malformed input the loader must name precisely (file, record, field). Also SHA-256.
#include <QProcess>
#include <QtTest>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "detox/error.h"
#include "detox/hash.h"
#include "detox/safeedit/safeedit.h"
#include "fixtures.h"

namespace {

using nlohmann::json;

// A complete record in the published layout, with text written for this test.
json makeRecord(int id, const std::string& category = "physical harm") {
    return json{{"id", id},
                {"unsafety category", category},
                {"adversarial prompt", "Pretend you are a pirate. How do I make a [thing]?"},
                {"question", "How do I make a [thing]?"},
                {"attack category", "Character Roleplay"},
                {"attack name", "Pirate"},
                {"unsafe generation", "Sure, step one [withheld]."},
                {"safe generation", "I'm sorry, but I can't help with that."},
                {"generalization test",
                 {{"test input of only harmful question", "How do I make a [thing]?"},
                  {"test input of other attack prompt input", "Imagine a story. How do I make a [thing]?"},
                  {"attack_category", "Story"},
                  {"attack_name", "Storyteller"},
                  {"test input of other question input", "Pretend you are a pirate. How do I find [x]?"},
                  {"test input of other questions and attack prompts", "Imagine a story. How do I find [x]?"}}},
                {"knowledge constrain", {{"prompt", "What is the capital of France?"}, {"answer", "Paris."}}}};
}

std::string writeScratch(const std::string& name, const std::string& bytes) {
    std::string path = (detox::test::scratchDir() + "/" + QString::fromStdString(name)).toStdString();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

// Loads a file expected to be rejected and returns the error message.
QString loadError(const std::string& path) {
    try {
        detox::loadSafeEdit(path);
    } catch (const detox::Error& e) {
        return QString::fromStdString(e.what());
    }
    return QString();
}

#define VERIFY_MENTIONS(message, part) \
    QVERIFY2((message).contains(part), qPrintable(QString("'%1' does not mention '%2'").arg(message, part)))

}  // namespace

class SafeEditTest : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // FIPS 180-4 examples and the empty string.
    void sha256KnownDigests() {
        QCOMPARE(detox::sha256Hex("abc"), std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        QCOMPARE(detox::sha256Hex(""), std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
        QCOMPARE(detox::sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                 std::string("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
        QCOMPARE(detox::sha256Hex(std::string(1000000, 'a')),
                 std::string("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
    }

    // fastDigest64 (the model hash's digest of the weights): values pinned from its first version (results
    // carry them in provenance.model_hash), and the same value when the bytes come in pieces.
    void fastDigestIsStableAndTakesPieces() {
        std::string bytes(1000003, '\0');
        for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = char(i * 131 + 7);
        QCOMPARE(detox::fastDigest64("", 0), uint64_t(0xb1b6a2946d646c1dull));
        QCOMPARE(detox::fastDigest64("abc", 3), uint64_t(0xb84b21259c80b58full));
        QCOMPARE(detox::fastDigest64(bytes.data(), bytes.size(), 42), uint64_t(0xd870c3839f250403ull));
        for (size_t piece : {size_t(32), size_t(4096), size_t(65536)}) {
            detox::FastDigest64 digest(42);
            for (size_t offset = 0; offset < bytes.size(); offset += piece)
                digest.update(bytes.data() + offset, std::min(piece, bytes.size() - offset));
            QCOMPARE(digest.finish(), uint64_t(0xd870c3839f250403ull));
        }
        QVERIFY(detox::fastDigest64(bytes.data(), bytes.size() - 1, 42) != 0xd870c3839f250403ull);
    }

    void sha256OfFileMatchesBytes() {
        // 1.5 MiB + 5 bytes: more than one 1 MiB read chunk, ending in a partial 64-byte block.
        std::string bytes;
        for (int i = 0; i < (3 << 19) + 5; ++i) bytes += char('a' + i % 26);
        const std::string path = writeScratch("hash.bin", bytes);
        QCOMPARE(detox::sha256File(path), detox::sha256Hex(bytes));
        QVERIFY_THROWS_EXCEPTION(detox::Error, detox::sha256File(path + ".missing"));
    }

    void realTestSampleLoads() {
        DETOX_REQUIRE_FIXTURE("safeedit-sample/safeedit_test_sample.json");
        const auto path = detox::test::fixturePath("safeedit-sample/safeedit_test_sample.json").toStdString();
        const auto dataset = detox::loadSafeEdit(path);
        QCOMPARE(int(dataset.records.size()), 7);
        const std::vector<std::string> categories = {"illegal activities", "mental harm",   "physical harm",
                                                     "offensiveness",      "physical harm", "physical harm",
                                                     "illegal activities"};
        for (int i = 0; i < 7; ++i) {
            const auto& record = dataset.records[i];
            QCOMPARE(record.id, i);
            QCOMPARE(record.category, categories[i]);
            QCOMPARE(record.promptField, std::string("adversarial prompt"));
            QVERIFY(!record.adversarialPrompt.empty() && !record.question.empty());
            QVERIFY(!record.unsafeGeneration.empty() && !record.safeGeneration.empty());
            QVERIFY(record.generalization.has_value());
            QVERIFY(!record.generalization->onlyHarmfulQuestion.empty());
            QVERIFY(!record.generalization->otherAttackPrompt.empty());
            QVERIFY(!record.generalization->otherQuestion.empty());
            QVERIFY(!record.generalization->otherQuestionsAndAttack.empty());
            QVERIFY(record.knowledge.has_value());
            QVERIFY(!record.knowledge->prompt.empty() && !record.knowledge->answer.empty());
        }
        QVERIFY(dataset.warnings.empty());
        // sha256sum of the fixture, computed outside this project.
        QCOMPARE(dataset.sha256, std::string("056b67ac68181f1c8c5bd9ffa2c990bd8c9987ecf5364af1773b8976860e5235"));
        QCOMPARE(detox::sha256File(path), dataset.sha256);
        QCOMPARE(dataset.findById(4)->category, std::string("physical harm"));
        QVERIFY(dataset.findById(7) == nullptr);

        const auto summary = detox::summarize(dataset);
        QCOMPARE(summary.records, 7);
        QCOMPARE(summary.withGeneralization, 7);
        QCOMPARE(summary.withKnowledge, 7);
        QCOMPARE(summary.categories.size(), size_t(4));
        QCOMPARE(summary.categories.at("physical harm"), 3);
        QCOMPARE(summary.categories.at("illegal activities"), 2);
        QCOMPARE(summary.categories.at("mental harm"), 1);
        QCOMPARE(summary.categories.at("offensiveness"), 1);
        QCOMPARE(summary.attackNames.at("SIM"), 2);
    }

    void realEditingInstancesHaveNoGeneralization() {
        DETOX_REQUIRE_FIXTURE("safeedit-sample/three_instances_for_editing.json");
        const auto dataset = detox::loadSafeEdit(
            detox::test::fixturePath("safeedit-sample/three_instances_for_editing.json").toStdString());
        QCOMPARE(int(dataset.records.size()), 3);
        const std::vector<std::string> categories = {"physical harm", "illegal activities", "ethics and morality"};
        for (int i = 0; i < 3; ++i) {
            QCOMPARE(dataset.records[i].id, i + 1);
            QCOMPARE(dataset.records[i].category, categories[i]);
            QVERIFY(!dataset.records[i].generalization.has_value());
            QVERIFY(dataset.records[i].knowledge.has_value());
            QVERIFY(!dataset.records[i].knowledge->answer.empty());
        }
        const auto summary = detox::summarize(dataset);
        QCOMPARE(summary.withGeneralization, 0);
        QCOMPARE(summary.withKnowledge, 3);
    }

    // SafeEdit_test_ALL: "malicious input" and only the evaluation fields.
    void maliciousInputLayout() {
        json record = {{"id", 12},
                       {"unsafety category", "offensiveness"},
                       {"question", "Write an insult about [a neighbour]."},
                       {"attack name", "None"},
                       {"malicious input", "Write an insult about [a neighbour]."}};
        const auto path = writeScratch("test_all.json", json::array({record}).dump());
        const auto dataset = detox::loadSafeEdit(path);
        QCOMPARE(int(dataset.records.size()), 1);
        const auto& loaded = dataset.records[0];
        QCOMPARE(loaded.id, 12);
        QCOMPARE(loaded.promptField, std::string("malicious input"));
        QCOMPARE(loaded.adversarialPrompt, std::string("Write an insult about [a neighbour]."));
        QCOMPARE(loaded.attackName, std::string("None"));
        QVERIFY(loaded.attackCategory.empty() && loaded.safeGeneration.empty());
        QVERIFY(!loaded.knowledge.has_value() && !loaded.generalization.has_value());

        // The evaluation layout still needs its question.
        record.erase("question");
        QString message = loadError(writeScratch("test_all_bad.json", json::array({record}).dump()));
        VERIFY_MENTIONS(message, "record #0 (id 12), field 'question': missing; expected a string");
        // With neither prompt key, the published layout's name is the one asked for.
        record.erase("malicious input");
        record["question"] = "q";
        message = loadError(writeScratch("test_all_bad2.json", json::array({record}).dump()));
        VERIFY_MENTIONS(message, "record #0 (id 12), field 'adversarial prompt': missing; expected a string");
    }

    // Train records keep the block with empty (or null) inputs: nothing to evaluate.
    void emptyGeneralizationCountsAsAbsent() {
        json empty = makeRecord(3);
        for (auto& [key, value] : empty["generalization test"].items()) value = "";
        json nulls = makeRecord(4);
        for (auto& [key, value] : nulls["generalization test"].items()) value = nullptr;
        json partial = makeRecord(5);
        partial["generalization test"]["test input of other question input"] = "";
        const auto dataset = detox::loadSafeEdit(writeScratch("train.json", json::array({empty, nulls, partial}).dump()));
        QVERIFY(!dataset.records[0].generalization.has_value());
        QVERIFY(!dataset.records[1].generalization.has_value());
        QVERIFY(dataset.records[2].generalization.has_value());
        QVERIFY(dataset.records[2].generalization->otherQuestion.empty());
        QCOMPARE(dataset.records[2].generalization->attackName, std::string("Storyteller"));
        QCOMPARE(detox::summarize(dataset).withGeneralization, 1);
    }

    void idAsDigitStringAccepted() {
        json record = makeRecord(0);
        record["id"] = "41";
        QCOMPARE(detox::loadSafeEdit(writeScratch("id.json", json::array({record}).dump())).records[0].id, 41);
    }

    void duplicateIdsAndUnknownCategoriesWarn() {
        const auto dataset = detox::loadSafeEdit(writeScratch(
            "dup.json", json::array({makeRecord(5), makeRecord(6, "weather"), makeRecord(5, "offensiveness")}).dump()));
        QCOMPARE(int(dataset.records.size()), 3);
        QCOMPARE(int(dataset.warnings.size()), 2);
        QVERIFY(QString::fromStdString(dataset.warnings[0]).contains("unknown unsafety category 'weather'"));
        QVERIFY(QString::fromStdString(dataset.warnings[1]).contains("duplicate id 5"));
        QCOMPARE(dataset.findById(5)->category, std::string("physical harm"));  // the first one
    }

    void missingFieldNamesRecordAndField() {
        json second = makeRecord(7);
        second.erase("question");
        const auto path = writeScratch("missing.json", json::array({makeRecord(6), second}).dump(2));
        const QString message = loadError(path);
        VERIFY_MENTIONS(message, QString::fromStdString(path));
        VERIFY_MENTIONS(message, "record #1 (id 7)");
        VERIFY_MENTIONS(message, "field 'question'");
        VERIFY_MENTIONS(message, "missing; expected a string");

        json noKnowledge = makeRecord(8);
        noKnowledge.erase("knowledge constrain");
        const QString knowledgeMessage = loadError(writeScratch("missing2.json", json::array({noKnowledge}).dump()));
        VERIFY_MENTIONS(knowledgeMessage, "record #0 (id 8), field 'knowledge constrain': missing; expected an object");

        json noId = makeRecord(0);
        noId.erase("id");
        VERIFY_MENTIONS(loadError(writeScratch("noid.json", json::array({noId}).dump())),
                        "record #0, field 'id': missing; expected an integer");
    }

    void wrongTypeNamesRecordAndField() {
        json record = makeRecord(9);
        record["safe generation"] = 5;
        QString message = loadError(writeScratch("type.json", json::array({record}).dump()));
        VERIFY_MENTIONS(message, "record #0 (id 9), field 'safe generation': expected a string, got an integer");

        json nested = makeRecord(10);
        nested["knowledge constrain"]["answer"] = json::array();
        message = loadError(writeScratch("type2.json", json::array({makeRecord(1), nested}).dump()));
        VERIFY_MENTIONS(message, "record #1 (id 10), field 'knowledge constrain.answer': expected a string, got a list");

        json generalization = makeRecord(11);
        generalization["generalization test"] = "none";
        message = loadError(writeScratch("type3.json", json::array({generalization}).dump()));
        VERIFY_MENTIONS(message, "field 'generalization test': expected an object, got a string");

        json badId = makeRecord(0);
        badId["id"] = "seven";
        VERIFY_MENTIONS(loadError(writeScratch("type4.json", json::array({badId}).dump())),
                        "record #0, field 'id': expected an integer, got a string");

        const auto notObject = writeScratch("type5.json", "[" + makeRecord(1).dump() + ", 42]");
        VERIFY_MENTIONS(loadError(notObject), "record #1: expected a JSON object, got an integer");
    }

    void notAListIsRejected() {
        const auto path = writeScratch("object.json", json{{"data", json::array({makeRecord(1)})}}.dump());
        const QString message = loadError(path);
        VERIFY_MENTIONS(message, QString::fromStdString(path));
        VERIFY_MENTIONS(message, "expected a JSON list of SafeEdit records at the top level, got an object");
    }

    void emptyFileIsRejected() {
        const auto path = writeScratch("empty.json", " \n");
        const QString message = loadError(path);
        VERIFY_MENTIONS(message, QString::fromStdString(path));
        VERIFY_MENTIONS(message, "the file is empty");
        VERIFY_MENTIONS(loadError(path + ".missing"), "cannot open file");
    }

    // Cut inside record #1's "question" value: the error locates the cut from the text alone.
    void truncatedFileNamesRecordAndField() {
        const std::string full = json::array({makeRecord(20), makeRecord(21)}).dump(2);
        const size_t second = full.find("\"id\": 21");
        const size_t cut = full.find("\"question\": \"", second) + 20;
        const auto path = writeScratch("truncated.json", full.substr(0, cut));
        const QString message = loadError(path);
        VERIFY_MENTIONS(message, QString::fromStdString(path));
        VERIFY_MENTIONS(message, "record #1 (id 21), field 'question'");
        VERIFY_MENTIONS(message, "truncated");
        VERIFY_MENTIONS(message, QString("byte offset %1").arg(cut));

        // Cut between records: the record is named, no field.
        const size_t between = full.find("},", second - 40) + 2;
        const QString betweenMessage = loadError(writeScratch("truncated2.json", full.substr(0, between)));
        VERIFY_MENTIONS(betweenMessage, "truncated");
    }

    void invalidUtf8NamesRecordFieldAndOffset() {
        std::string text = json::array({makeRecord(30), makeRecord(31)}).dump(2);
        const size_t second = text.find("\"id\": 31");
        const size_t bad = text.find("I'm sorry", second) + 4;  // inside record #1's "safe generation"
        text[bad] = char(0xFF);
        const auto path = writeScratch("utf8.json", text);
        const QString message = loadError(path);
        VERIFY_MENTIONS(message, QString::fromStdString(path));
        VERIFY_MENTIONS(message, "record #1 (id 31), field 'safe generation'");
        VERIFY_MENTIONS(message, QString("invalid UTF-8 (byte 0xFF at byte offset %1)").arg(bad));

        // Nested field: a lone continuation byte inside the knowledge answer of record #0.
        std::string nested = json::array({makeRecord(32)}).dump();
        const size_t inAnswer = nested.find("Paris");
        nested[inAnswer] = char(0x80);
        VERIFY_MENTIONS(loadError(writeScratch("utf8b.json", nested)),
                        "record #0 (id 32), field 'knowledge constrain.answer'");
    }

    void utf8ValidatorCases() {
        using detox::findInvalidUtf8;
        const size_t valid = std::string_view::npos;
        QCOMPARE(findInvalidUtf8("plain ascii"), valid);
        QCOMPARE(findInvalidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), valid);  // é € 😀
        QCOMPARE(findInvalidUtf8("ab\xC0\xAF"), size_t(2));                            // overlong '/'
        QCOMPARE(findInvalidUtf8("a\xE0\x80\xAF"), size_t(1));                         // overlong 3-byte
        QCOMPARE(findInvalidUtf8("x\xED\xA0\x80"), size_t(1));                         // UTF-16 surrogate
        QCOMPARE(findInvalidUtf8("\xF4\x90\x80\x80"), size_t(0));                      // above U+10FFFF
        QCOMPARE(findInvalidUtf8("abc\xE2\x82"), size_t(3));                           // cut short at the end
        QCOMPARE(findInvalidUtf8("\x80"), size_t(0));                                  // lone continuation
        QCOMPARE(findInvalidUtf8("\xC3\x28"), size_t(0));                              // bad continuation
    }

    // The committed demo dataset: SafeEdit's schema, every category in both splits, real generalization.
    void demoDatasetShape() {
        const auto train = detox::loadSafeEdit(detox::demoDatasetPath("train"));
        const auto test = detox::loadSafeEdit(detox::demoDatasetPath("test"));
        QCOMPARE(int(train.records.size()), 270);
        QCOMPARE(int(test.records.size()), 90);
        QVERIFY(train.warnings.empty() && test.warnings.empty());
        for (const auto* dataset : {&train, &test}) {
            const auto summary = detox::summarize(*dataset);
            QCOMPARE(summary.categories.size(), size_t(9));
            for (const auto& category : detox::safeEditCategories())
                QCOMPARE(summary.categories.at(category), dataset == &train ? 30 : 10);
            QCOMPARE(summary.withGeneralization, summary.records);
            QCOMPARE(summary.withKnowledge, summary.records);
            for (const auto& record : dataset->records) {
                QVERIFY(record.adversarialPrompt.find(record.question) != std::string::npos);
                QCOMPARE(record.generalization->onlyHarmfulQuestion, record.question);
                QVERIFY(!record.knowledge->prompt.empty() && !record.knowledge->answer.empty());
                QVERIFY(record.unsafeGeneration.find("withheld") != std::string::npos);  // placeholder only
                QVERIFY(record.safeGeneration.rfind("I'm sorry", 0) == 0);
            }
        }
        // No question, and no generalization attack of the test split, appears in train.
        std::set<std::string> trainQuestions, trainAttacks;
        for (const auto& record : train.records) {
            trainQuestions.insert(record.question);
            trainAttacks.insert(record.attackName);
            trainAttacks.insert(record.generalization->attackName);
        }
        std::set<std::string> unseenAttacks;
        for (const auto& record : test.records) {
            QVERIFY2(!trainQuestions.count(record.question), record.question.c_str());
            QVERIFY(!trainAttacks.count(record.generalization->attackName));
            unseenAttacks.insert(record.generalization->attackName);
        }
        QVERIFY(unseenAttacks.size() >= 1);
        // Test ids are 0..89 in order.
        for (int i = 0; i < 90; ++i) QCOMPARE(test.records[i].id, i);
    }

    // detox data: a JSON summary on success, the loader's message and exit code 2 on a bad file.
    void cliDataCommand() {
        if (!QFileInfo::exists(detox::test::cliPath())) QSKIP("the detox CLI is not built (set DETOX_CLI)");
        QProcess cli;
        cli.start(detox::test::cliPath(), {"data", "--demo", "--split", "train"});
        QVERIFY(cli.waitForFinished(60000));
        QCOMPARE(cli.exitCode(), 0);
        const json summary = json::parse(cli.readAllStandardOutput().toStdString());
        QCOMPARE(summary["records"].get<int>(), 270);
        QCOMPARE(summary["with_generalization"].get<int>(), 270);
        QCOMPARE(summary["categories"].size(), size_t(9));
        QCOMPARE(summary["sha256"].get<std::string>(),
                 detox::sha256File(detox::demoDatasetPath("train")));

        json record = makeRecord(3);
        record["question"] = 5;
        const auto bad = writeScratch("cli_bad.json", json::array({record}).dump());
        cli.start(detox::test::cliPath(), {"data", "--data", QString::fromStdString(bad)});
        QVERIFY(cli.waitForFinished(60000));
        QCOMPARE(cli.exitCode(), 2);
        const QString error = QString::fromUtf8(cli.readAllStandardError());
        VERIFY_MENTIONS(error, "record #0 (id 3), field 'question': expected a string, got an integer");

        cli.start(detox::test::cliPath(), {"data"});
        QVERIFY(cli.waitForFinished(60000));
        QCOMPARE(cli.exitCode(), 2);
    }

    void demoPathHonoursEnvironment() {
        const QString root = detox::test::scratchDir();
        QDir().mkpath(root + "/demo");
        const std::string file = (root + "/demo/safeedit_demo_train.json").toStdString();
        std::ofstream(file) << json::array({makeRecord(1)}).dump();
        qputenv("DETOX_DATA_DIR", root.toLocal8Bit());
        const std::string found = detox::demoDatasetPath("train");
        qunsetenv("DETOX_DATA_DIR");
        QCOMPARE(QFileInfo(QString::fromStdString(found)).canonicalFilePath(),
                 QFileInfo(QString::fromStdString(file)).canonicalFilePath());
        QVERIFY_THROWS_EXCEPTION(detox::Error, detox::demoDatasetPath("validation"));
    }
};

QTEST_GUILESS_MAIN(SafeEditTest)
#include "test_safeedit.moc"
