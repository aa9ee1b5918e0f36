// Tokenizer: GPT-2 byte-level BPE against OpenAI-algorithm references, the Llama-2-style stories260K
// tokenizer against llama2.c's ids, synthetic tokenizer.json files for each component and each
// malformed case, chat templates and the `detox tokenize` CLI.
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QtTest>
#include <fstream>
#include <nlohmann/json.hpp>

#include "detox/error.h"
#include "detox/tokenizer/tokenizer.h"
#include "fixtures.h"

using detox::ChatTemplate;
using detox::Tokenizer;
using Ids = std::vector<int>;

namespace {

struct Case {
    std::string text;
    Ids ids;
};

// Expected ids from tests/tools/gpt2_bpe_reference.py (an independent Python implementation of OpenAI's
// original GPT-2 encoder algorithm, run on the fixture's vocab.json + merges.txt); output pasted verbatim.
// The first four also appear in the fixture's reference.json (OpenAI's own encoder.py).
const std::vector<Case> kGpt2Cases = {
    {"hello world", {31373, 995}},
    {"Hello, world!", {15496, 11, 995, 0}},
    {"line1\nline2\n\nline4\n", {1370, 16, 198, 1370, 17, 198, 198, 1370, 19, 198}},
    {"don't", {9099, 470}},
    {"I'm sure they'll say we've done what you'd do, it's John's.", {40, 1101, 1654, 484, 1183, 910, 356, 1053, 1760, 644, 345, 1549, 466, 11, 340, 338, 1757, 338, 13}},
    {"THEY'RE here", {10970, 56, 6, 2200, 994}},
    {"a  b   c    d", {64, 220, 275, 220, 220, 269, 220, 220, 220, 288}},
    {"   leading and trailing   ", {220, 220, 3756, 290, 25462, 220, 220, 220}},
    {"tabs\tand\r\nwindows lines\n\n\n", {8658, 82, 197, 392, 201, 198, 28457, 3951, 628, 198}},
    {"12345 and 3.14159 and 1,000,000", {10163, 2231, 290, 513, 13, 1415, 19707, 290, 352, 11, 830, 11, 830}},
    {"café naïve résumé Zürich", {66, 1878, 2634, 41492, 40560, 16345, 2634, 1168, 9116, 7527}},
    {"emoji 😀 and 👍🏽 here", {368, 31370, 30325, 222, 290, 50169, 235, 8582, 237, 121, 994}},
    {"中文字符和日本語のテキスト", {40792, 23877, 229, 27764, 245, 163, 105, 99, 161, 240, 234, 33768, 98, 17312, 105, 45739, 252, 5641, 24336, 25084, 43302}},
    {"mixed: Привет мир, γειά σου κόσμε! 😀123abc", {76, 2966, 25, 12466, 253, 21169, 18849, 38857, 16843, 20375, 12466, 120, 18849, 21169, 11, 7377, 111, 30950, 29945, 138, 105, 18074, 225, 26517, 139, 227, 7377, 118, 139, 234, 38392, 34703, 30950, 0, 30325, 222, 10163, 39305}},
    {"  \n  \n", {220, 220, 198, 220, 220, 198}},
    {"x", {87}},
    {"", {}},
};
// OpenAI's encoder treats "<|endoftext|>" as text (reference script output); HF makes it token 50256.
const Ids kEndOfTextAsText = {27, 91, 437, 1659, 5239, 91, 29};

QString show(const Ids& ids) {
    QStringList parts;
    for (int id : ids) parts << QString::number(id);
    return "[" + parts.join(", ") + "]";
}

Ids idsFromJson(const QJsonArray& array) {
    Ids ids;
    for (const auto& value : array) ids.push_back(value.toInt());
    return ids;
}

QJsonObject readJsonObject(const QString& path) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) return {};
    return QJsonDocument::fromJson(file.readAll()).object();
}

std::string writeFile(const QString& dir, const QString& name, const std::string& contents) {
    QDir().mkpath(dir);
    std::string path = (dir + "/" + name).toStdString();
    std::ofstream(path, std::ios::binary) << contents;
    return path;
}

// The error message of loading `json` as tokenizer.json, or "" when it loads.
QString loadError(const QString& name, const std::string& json) {
    std::string path = writeFile(detox::test::scratchDir() + "/" + name, "tokenizer.json", json);
    try {
        Tokenizer::fromFiles(path);
    } catch (const detox::Error& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

// A vocabulary of the 256 GPT-2 byte characters (id = byte value) plus extra tokens.
nlohmann::json byteLevelVocab(const std::vector<std::string>& extra) {
    // GPT-2 byte map, written out independently of the library: printable bytes stay, others from U+0100.
    nlohmann::json vocab = nlohmann::json::object();
    int next = 256;
    for (int b = 0; b < 256; ++b) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        char32_t c = printable ? char32_t(b) : char32_t(next++);
        std::u32string u32(1, c);
        QString s = QString::fromUcs4(reinterpret_cast<const char32_t*>(u32.data()), 1);
        vocab[s.toStdString()] = b;
    }
    int id = 256;
    for (const auto& token : extra) vocab[token] = id++;
    return vocab;
}

}  // namespace

class TokenizerTest : public QObject {
    Q_OBJECT

    static Tokenizer gpt2() {
        return Tokenizer::fromDirectory(detox::test::fixturePath("gpt2-tokenizer").toStdString());
    }
    static Tokenizer stories() {
        return Tokenizer::fromDirectory(detox::test::fixturePath("stories260K-hf").toStdString());
    }

private Q_SLOTS:
    // ---------------- GPT-2 (fixture) ----------------
    void gpt2MatchesOpenAiReferenceJson() {
        DETOX_REQUIRE_FIXTURE("gpt2-tokenizer/reference.json");
        Tokenizer tokenizer = gpt2();
        QJsonObject reference = readJsonObject(detox::test::fixturePath("gpt2-tokenizer/reference.json"));
        const QJsonArray cases = reference["cases"].toArray();
        QVERIFY(cases.size() >= 4);
        int compared = 0;
        for (const auto& value : cases) {
            const std::string text = value.toObject()["text"].toString().toStdString();
            const Ids expected = idsFromJson(value.toObject()["ids"].toArray());
            // OpenAI's encoder reads a literal "<|endoftext|>" as text, HF (and we) as the special token;
            // such a case cannot match by design, so it is checked in gpt2EndOfTextIsSpecial instead.
            if (text.find("<|endoftext|>") != std::string::npos) continue;
            QCOMPARE(show(tokenizer.encode(text)), show(expected));
            ++compared;
        }
        QVERIFY(compared >= 4);
    }

    void gpt2MatchesIndependentReference() {
        DETOX_REQUIRE_FIXTURE("gpt2-tokenizer/tokenizer.json");
        Tokenizer tokenizer = gpt2();
        for (const auto& c : kGpt2Cases) {
            QVERIFY2(show(tokenizer.encode(c.text)) == show(c.ids),
                     qPrintable(QString::fromStdString(c.text) + ": got " + show(tokenizer.encode(c.text)) +
                                ", expected " + show(c.ids)));
        }
    }

    void gpt2RoundTrips() {
        DETOX_REQUIRE_FIXTURE("gpt2-tokenizer/tokenizer.json");
        Tokenizer tokenizer = gpt2();
        for (const auto& c : kGpt2Cases) QCOMPARE(tokenizer.decode(tokenizer.encode(c.text)), c.text);
        QCOMPARE(tokenizer.decode(kEndOfTextAsText), std::string("<|endoftext|>"));
    }

    void gpt2EndOfTextIsSpecial() {
        DETOX_REQUIRE_FIXTURE("gpt2-tokenizer/tokenizer.json");
        Tokenizer tokenizer = gpt2();
        QCOMPARE(show(tokenizer.encode("<|endoftext|>")), show({50256}));
        // "hello" = 31373 and "world" = 6894 (no leading space) from the reference script.
        QCOMPARE(show(tokenizer.encode("hello<|endoftext|>world")), show({31373, 50256, 6894}));
        QVERIFY(tokenizer.isSpecial(50256));
        QVERIFY(!tokenizer.isSpecial(995));
        QCOMPARE(tokenizer.decode({31373, 50256, 6894}), std::string("helloworld"));
        QCOMPARE(tokenizer.decode({31373, 50256, 6894}, false), std::string("hello<|endoftext|>world"));
        QCOMPARE(tokenizer.vocabSize(), 50257);
        QCOMPARE(tokenizer.idToToken(995), std::string("\xC4\xA0world"));  // "Ġworld"
        QCOMPARE(tokenizer.tokenToId("\xC4\xA0world").value_or(-1), 995);
        QCOMPARE(tokenizer.eosId().value_or(-1), 50256);
        QCOMPARE(tokenizer.bosId().value_or(-1), 50256);
        QVERIFY(!tokenizer.padId());
        QCOMPARE(tokenizer.detectedChatTemplate(), ChatTemplate::Plain);
        QVERIFY_THROWS_EXCEPTION(detox::Error, tokenizer.idToToken(50257));
    }

    // ---------------- stories260K (Llama-2 style, fixture) ----------------
    void storiesReproducesLlama2cPromptIds() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/reference.json");
        Tokenizer tokenizer = stories();
        QJsonObject reference = readJsonObject(detox::test::fixturePath("stories260K-hf/reference.json"));
        QJsonObject greedy = reference["greedy"].toObject();
        QCOMPARE(show(tokenizer.encode(greedy["prompt"].toString().toStdString())),
                 show(idsFromJson(greedy["prompt_token_ids"].toArray())));
        QJsonObject excerpt = reference["logits_excerpt"].toObject();
        QCOMPARE(show(tokenizer.encode(excerpt["prompt"].toString().toStdString())),
                 show(idsFromJson(excerpt["token_ids"].toArray())));
        QCOMPARE(tokenizer.bosId().value_or(-1), 1);
        QCOMPARE(tokenizer.eosId().value_or(-1), 2);
        QCOMPARE(tokenizer.vocabSize(), 512);
        // Without special tokens: no BOS.
        Ids noBos = idsFromJson(greedy["prompt_token_ids"].toArray());
        noBos.erase(noBos.begin());
        QCOMPARE(show(tokenizer.encode("Once upon a time", false)), show(noBos));
    }

    void storiesDecodesLlama2cStory() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/reference.json");
        Tokenizer tokenizer = stories();
        QJsonObject greedy = readJsonObject(detox::test::fixturePath("stories260K-hf/reference.json"))["greedy"].toObject();
        std::string printed = greedy["reference_stdout"].toString().toStdString();
        // llama2.c's run prints the decoded pieces and then one final "\n" of its own.
        QVERIFY(!printed.empty() && printed.back() == '\n');
        printed.pop_back();
        QCOMPARE(tokenizer.decode(idsFromJson(greedy["all_token_ids"].toArray())), printed);
    }

    void storiesByteFallback() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/tokenizer.json");
        Tokenizer tokenizer = stories();
        // README: byte tokens <0x00>..<0xFF> are ids 3..258, so byte b is id 3 + b. "ü" = C3 BC and
        // "😀" = F0 9F 98 80 are not pieces of the 512 vocabulary ("é" is: it stays one token).
        const int space = tokenizer.tokenToId("\xE2\x96\x81").value_or(-1);  // "▁"
        QVERIFY(space >= 0);
        QCOMPARE(show(tokenizer.encode("ü", false)), show({space, 3 + 0xC3, 3 + 0xBC}));
        QCOMPARE(show(tokenizer.encode("é", false)), show({space, tokenizer.tokenToId("é").value_or(-1)}));
        QCOMPARE(show(tokenizer.encode("😀", false)), show({space, 3 + 0xF0, 3 + 0x9F, 3 + 0x98, 3 + 0x80}));
        QCOMPARE(tokenizer.idToToken(3 + 0x0A), std::string("<0x0A>"));
        for (std::string text : {"ü", "😀", "Once upon a time, Zürich café 😀!\nNew line", "a  b"})
            QCOMPARE(tokenizer.decode(tokenizer.encode(text)), text);
        // A lone continuation byte spells no character: HF's ByteFallback gives one U+FFFD per byte.
        QCOMPARE(tokenizer.decode({3 + 0xA9}), std::string("\xEF\xBF\xBD"));
    }

    void storiesLiteralSpecialTokens() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/tokenizer.json");
        Tokenizer tokenizer = stories();
        Ids ids = tokenizer.encode("<s>Once upon a time</s>", false);
        QCOMPARE(ids.front(), 1);
        QCOMPARE(ids.back(), 2);
        // Legacy Llama: the text after "<s>" is its own segment and gets the "▁" prefix too.
        QCOMPARE(show(Ids(ids.begin() + 1, ids.end() - 1)), show({403, 407, 261, 378}));
        QCOMPARE(tokenizer.decode(ids), std::string("Once upon a time"));
    }

    // ---------------- synthetic tokenizer.json files ----------------
    void pairMergesAndUnknownTokens() {
        nlohmann::json spec = {
            {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"fuse_unk", true},
                       {"vocab", {{"<unk>", 0}, {"a", 1}, {"b", 2}, {"c", 3}, {"ab", 4}, {"abc", 5}, {"bc", 6}}},
                       {"merges", nlohmann::json::array({nlohmann::json::array({"a", "b"}), nlohmann::json::array({"ab", "c"}),
                                                   nlohmann::json::array({"b", "c"})})}}},
        };
        std::string path = writeFile(detox::test::scratchDir() + "/pairs", "tokenizer.json", spec.dump());
        Tokenizer tokenizer = Tokenizer::fromFiles(path);
        // Hand-derived: "abc": a b (rank 0) -> ab, ab c (rank 1) -> abc. "abbc": a b first, then b c.
        QCOMPARE(show(tokenizer.encode("abc")), show({5}));
        QCOMPARE(show(tokenizer.encode("abbc")), show({4, 6}));
        QCOMPARE(show(tokenizer.encode("cab")), show({3, 4}));
        // fuse_unk: "xy" is one <unk>, then "a".
        QCOMPARE(show(tokenizer.encode("xya")), show({0, 1}));
        QCOMPARE(tokenizer.vocabSize(), 7);
        // No decoder: tokens joined with spaces, as HF does.
        QCOMPARE(tokenizer.decode({5, 3}), std::string("abc c"));
    }

    void byteFallbackPerCharacter() {
        // byte_fallback with only some "<0xNN>" tokens: HF decides per character (models/bpe/model.rs,
        // merge_word): a character whose bytes all have tokens becomes those tokens; one with a missing
        // byte token becomes unk. A pending unk is not flushed before byte tokens, so it follows them.
        nlohmann::json spec = {
            {"model", {{"type", "BPE"}, {"unk_token", "<unk>"}, {"byte_fallback", true},
                       {"vocab", {{"<unk>", 0}, {"a", 1}, {"<0xC3>", 2}, {"<0x78>", 3}, {"<0xA9>", 4}, {"<0xB6>", 5},
                                  {"<0xE2>", 6}}},
                       {"merges", nlohmann::json::array()}}},
        };
        std::string path = writeFile(detox::test::scratchDir() + "/bytefallback", "tokenizer.json", spec.dump());
        Tokenizer tokenizer = Tokenizer::fromFiles(path);
        // "é" = C3 A9 and "ö" = C3 B6: all bytes present. "x" = 78 present.
        QCOMPARE(show(tokenizer.encode("éxö")), show({2, 4, 3, 2, 5}));
        // "€" = E2 82 AC: 82 and AC missing -> unk; "x" -> byte token before the pending unk; "a" flushes it.
        QCOMPARE(show(tokenizer.encode("€xa")), show({3, 0, 1}));
        QCOMPARE(show(tokenizer.encode("a€")), show({1, 0}));
    }

    void stringMergesWithIgnoreMerges() {
        nlohmann::json spec = {
            {"model", {{"type", "BPE"}, {"ignore_merges", true},
                       {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"bab", 3}, {"ba", 4}}},
                       {"merges", {"a b", "b a"}}}},
        };
        std::string path = writeFile(detox::test::scratchDir() + "/ignore", "tokenizer.json", spec.dump());
        Tokenizer tokenizer = Tokenizer::fromFiles(path);
        // "bab" is in the vocabulary: with ignore_merges it is taken whole; merges alone would give b + ab.
        QCOMPARE(show(tokenizer.encode("bab")), show({3}));
        QCOMPARE(show(tokenizer.encode("abab")), show({2, 2}));
    }

    void metaspacePreTokenizer() {
        const std::string s = "\xE2\x96\x81";  // "▁"
        nlohmann::json spec = {
            {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", s}, {"prepend_scheme", "first"}, {"split", true}}},
            {"decoder", {{"type", "Metaspace"}, {"replacement", s}, {"prepend_scheme", "first"}, {"split", true}}},
            {"added_tokens", {{{"id", 7}, {"content", "<s>"}, {"special", true}}}},
            {"model", {{"type", "BPE"},
                       {"vocab", {{s, 0}, {"h", 1}, {"i", 2}, {s + "h", 3}, {s + "hi", 4}, {"hi", 5}}},
                       {"merges", {s + " h", s + "h i", "h i"}}}},
        };
        std::string path = writeFile(detox::test::scratchDir() + "/metaspace", "tokenizer.json", spec.dump());
        Tokenizer tokenizer = Tokenizer::fromFiles(path);
        // "hi hi" -> "▁hi▁hi" -> words "▁hi", "▁hi".
        QCOMPARE(show(tokenizer.encode("hi hi")), show({4, 4}));
        // Two spaces: "▁hi", "▁", "▁hi" (a run of "▁" splits before each one).
        QCOMPARE(show(tokenizer.encode("hi  hi")), show({4, 0, 4}));
        // prepend_scheme "first": the segment after an added token gets no "▁".
        QCOMPARE(show(tokenizer.encode("hi<s>hi")), show({4, 7, 5}));
        QCOMPARE(tokenizer.decode({4, 4}), std::string("hi hi"));
        QCOMPARE(tokenizer.decode({4, 7, 5}, false), std::string("hi<s>hi"));
    }

    void qwen2StyleSplitAndByteLevel() {
        // Qwen2's pre-tokenizer: Split(regex, Isolated) then ByteLevel without its own regex.
        const std::string qwenPattern =
            "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
            "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
        const std::string G = "\xC4\xA0";  // "Ġ" = byte-level space
        nlohmann::json vocab = byteLevelVocab({"he", "ll", "hell", "hello", G + "w", "or", G + "wor", G + "worl", G + "world",
                                               "12"});
        nlohmann::json merges = nlohmann::json::array();
        for (auto [left, right] : std::vector<std::pair<std::string, std::string>>{
                 {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {G, "w"}, {"o", "r"},
                 {G + "w", "or"}, {G + "wor", "l"}, {G + "worl", "d"}, {"1", "2"}})
            merges.push_back(nlohmann::json::array({left, right}));
        nlohmann::json spec = {
            {"added_tokens", {{{"id", 300}, {"content", "<|im_start|>"}, {"special", true}},
                              {{"id", 301}, {"content", "<|im_end|>"}, {"special", true}}}},
            {"normalizer", {{"type", "NFC"}}},
            {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {
                {{"type", "Split"}, {"pattern", {{"Regex", qwenPattern}}}, {"behavior", "Isolated"}, {"invert", false}},
                {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}}}}},
            {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
            {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", false}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab},
                       {"merges", merges}}},
        };
        std::string path = writeFile(detox::test::scratchDir() + "/qwen2", "tokenizer.json", spec.dump());
        Tokenizer tokenizer = Tokenizer::fromFiles(path);
        // Hand-derived ids: vocab extras start at 256: hello = 259, Ġworld = 264, "12" = 265 (unused:
        // the pattern isolates each digit, so "123" is 1 2 3 = bytes 49 50 51).
        QCOMPARE(show(tokenizer.encode("hello world")), show({259, 264}));
        QCOMPARE(show(tokenizer.encode("123")), show({49, 50, 51}));
        // Added tokens inside text; "\n" is byte 10.
        QCOMPARE(show(tokenizer.encode("<|im_start|>user\nhello<|im_end|>")),
                 show({300, 'u', 's', 'e', 'r', 10, 259, 301}));
        QCOMPARE(tokenizer.decode({300, 259, 264, 301}), std::string("hello world"));
        QCOMPARE(tokenizer.decode({300, 259, 264, 301}, false), std::string("<|im_start|>hello world<|im_end|>"));
        QCOMPARE(tokenizer.detectedChatTemplate(), ChatTemplate::Plain);
        const std::string text = "It's 2024: héllo, wörld! 😀\n\n  done";
        QCOMPARE(tokenizer.decode(tokenizer.encode(text)), text);
    }

    // Expected bytes from Python's unicodedata.normalize (an independent implementation of the same
    // Unicode tables). A byte-level vocabulary without merges makes the ids the normalized text's bytes.
    void unicodeNormalFormsMatchPython() {
        struct Case {
            const char* form;
            std::string text, expectedHex;
        };
        const std::vector<Case> cases = {
            {"NFC", "e\xCC\x81 A\xCC\x8A \xE1\x84\x80\xE1\x85\xA1", "c3a920c38520eab080"},  // é Å 가 composed
            {"NFKC", "\xEF\xAC\x81 \xE2\x91\xA0 \xEF\xBC\xA1 x\xC2\xB2 e\xCC\x81", "66692031204120783220c3a9"},  // fi 1 A x2 é
            {"NFD", "\xC3\xA9", "65cc81"},
            {"NFKD", "\xEF\xAC\x81\xC3\xA9", "666965cc81"},
            {"NFC", "plain ascii stays", QByteArray("plain ascii stays").toHex().toStdString()},
        };
        for (const Case& c : cases) {
            nlohmann::json spec = {{"normalizer", {{"type", c.form}}},
                                   {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}},
                                   {"decoder", {{"type", "ByteLevel"}}},
                                   {"model", {{"type", "BPE"}, {"vocab", byteLevelVocab({})}, {"merges", nlohmann::json::array()}}}};
            const std::string path = writeFile(detox::test::scratchDir() + "/norm-" + c.form, "tokenizer.json", spec.dump());
            const std::vector<int> ids = Tokenizer::fromFiles(path).encode(c.text, false);
            QByteArray bytes;
            for (int id : ids) bytes.append(char(id));
            QCOMPARE(bytes.toHex().toStdString(), c.expectedHex);
        }
    }

    void malformedFilesNameFileAndField() {
        struct Bad {
            QString name;
            std::string json;
            QString field;
        };
        const std::vector<Bad> cases = {
            {"invalid-json", "{\"model\": {", "not valid JSON"},
            {"no-model", "{\"version\": \"1.0\", \"added_tokens\": []}", "model: missing"},
            {"wordpiece", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", "model.type: unsupported model \"WordPiece\""},
            {"unknown-merge", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a b\", \"a q\"]}}",
             "model.merges[1]: token \"q\" is not in model.vocab"},
            {"vocab-array", "{\"model\": {\"type\": \"BPE\", \"vocab\": [\"a\", \"b\"], \"merges\": []}}", "model.vocab: expected an object"},
            {"bad-merge", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [42]}}", "model.merges[0]: expected a merge"},
            {"bad-normalizer", "{\"normalizer\": {\"type\": \"Precompiled\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
             "normalizer.type: unsupported normalizer \"Precompiled\""},
            {"bad-split", "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"([\"}, \"behavior\": \"Isolated\"}]}, \"model\": {\"type\": \"BPE\", \"vocab\": {}, \"merges\": []}}",
             "pre_tokenizer.pretokenizers[0].pattern: a regular expression"},
        };
        for (const auto& bad : cases) {
            QString message = loadError(bad.name, bad.json);
            QVERIFY2(message.contains(bad.name + "/tokenizer.json"), qPrintable(bad.name + ": " + message));
            QVERIFY2(message.contains(bad.field), qPrintable(bad.name + ": " + message));
        }
        QVERIFY_THROWS_EXCEPTION(detox::Error, Tokenizer::fromDirectory("/nonexistent/model"));
    }

    // ---------------- chat templates ----------------
    void chatTemplateDetection() {
        struct Detect {
            const char* configTemplate;
            ChatTemplate expected;
        };
        const std::vector<Detect> cases = {
            {"{% for message in messages %}{{ bos_token + '[INST] ' + '<<SYS>>\\n' + message['content'] }}{% endfor %}", ChatTemplate::Llama2},
            {"{{ bos_token }}{% for message in messages %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% endfor %}", ChatTemplate::Mistral},
            {"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}", ChatTemplate::ChatML},
            {"{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + eos_token }}{% endif %}{% endfor %}", ChatTemplate::Zephyr},
            {"{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' }}", ChatTemplate::Llama3},
            {"{{ message['content'] }}", ChatTemplate::Plain},
        };
        int index = 0;
        for (const auto& c : cases) {
            QString dir = detox::test::scratchDir() + "/chat" + QString::number(index++);
            nlohmann::json spec = {{"model", {{"type", "BPE"}, {"vocab", {{"<s>", 0}, {"</s>", 1}}}, {"merges", nlohmann::json::array()}}}};
            writeFile(dir, "tokenizer.json", spec.dump());
            writeFile(dir, "tokenizer_config.json", nlohmann::json({{"chat_template", c.configTemplate}}).dump());
            QCOMPARE(Tokenizer::fromDirectory(dir.toStdString()).detectedChatTemplate(), c.expected);
        }
        for (ChatTemplate format : detox::allChatTemplates())
            QCOMPARE(detox::chatTemplateFromName(detox::chatTemplateName(format)).value(), format);
        QVERIFY(!detox::chatTemplateFromName("jinja"));
    }

    void chatTemplateRendering() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/tokenizer.json");
        Tokenizer tokenizer = stories();  // bos "<s>", eos "</s>"
        // Expected strings: what each family's published Jinja template renders for one user turn with
        // add_generation_prompt (Llama-2 strips the content, Llama-3 trims it).
        QCOMPARE(tokenizer.applyChatTemplate("Hi there ", ChatTemplate::Llama2, "Be kind."),
                 std::string("<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi there [/INST]"));
        QCOMPARE(tokenizer.applyChatTemplate("Hi there", ChatTemplate::Llama2), std::string("<s>[INST] Hi there [/INST]"));
        QCOMPARE(tokenizer.applyChatTemplate("Hi there", ChatTemplate::Mistral), std::string("<s>[INST] Hi there [/INST]"));
        QCOMPARE(tokenizer.applyChatTemplate("Hi", ChatTemplate::ChatML, "Be kind."),
                 std::string("<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
        QCOMPARE(tokenizer.applyChatTemplate("Hi", ChatTemplate::ChatML),
                 std::string("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"));
        QCOMPARE(tokenizer.applyChatTemplate("Hi", ChatTemplate::Zephyr, "Be kind."),
                 std::string("<|system|>\nBe kind.</s>\n<|user|>\nHi</s>\n<|assistant|>\n"));
        QCOMPARE(tokenizer.applyChatTemplate("Hi", ChatTemplate::Llama3, "Be kind."),
                 std::string("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|>"
                             "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"));
        QCOMPARE(tokenizer.applyChatTemplate("Hi", ChatTemplate::Plain), std::string("Hi"));

        // The rendered BOS is the only BOS when encoded without special tokens.
        Ids ids = tokenizer.encode(tokenizer.applyChatTemplate("Hi there", ChatTemplate::Llama2), false);
        QCOMPARE(ids.front(), 1);
        QCOMPARE(std::count(ids.begin(), ids.end(), 1), 1);
    }

    void chatMlDefaultSystemPrompt() {
        // Qwen2-instruct's template inserts a system turn when none is given.
        QString dir = detox::test::scratchDir() + "/qwen-chat";
        nlohmann::json spec = {{"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", nlohmann::json::array()}}}};
        writeFile(dir, "tokenizer.json", spec.dump());
        const char* qwenTemplate =
            "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
            "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
            "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        writeFile(dir, "tokenizer_config.json", nlohmann::json({{"chat_template", qwenTemplate}}).dump());
        Tokenizer tokenizer = Tokenizer::fromDirectory(dir.toStdString());
        QCOMPARE(tokenizer.detectedChatTemplate(), ChatTemplate::ChatML);
        QCOMPARE(tokenizer.applyChatTemplate("Hi", ChatTemplate::ChatML),
                 std::string("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
                             "<|im_start|>assistant\n"));
    }

    // ---------------- CLI ----------------
    void cliTokenizeAndDecode() {
        DETOX_REQUIRE_FIXTURE("stories260K-hf/tokenizer.json");
        const QString model = detox::test::fixturePath("stories260K-hf");
        QProcess cli;
        cli.start(detox::test::cliPath(), {"tokenize", "--model", model, "--text", "Once upon a time"});
        QVERIFY(cli.waitForFinished(30000));
        QCOMPARE(cli.exitCode(), 0);
        QJsonObject out = QJsonDocument::fromJson(cli.readAllStandardOutput()).object();
        QCOMPARE(show(idsFromJson(out["ids"].toArray())), show({1, 403, 407, 261, 378}));
        QCOMPARE(out["tokens"].toArray().first().toString(), QString("<s>"));
        QCOMPARE(out["tokens"].toArray().at(1).toString(), QString::fromUtf8("\xE2\x96\x81Once"));

        cli.start(detox::test::cliPath(), {"tokenize", "--model", model, "--text", "Once upon a time", "--no-special-tokens"});
        QVERIFY(cli.waitForFinished(30000));
        QCOMPARE(show(idsFromJson(QJsonDocument::fromJson(cli.readAllStandardOutput()).object()["ids"].toArray())),
                 show({403, 407, 261, 378}));

        cli.start(detox::test::cliPath(), {"tokenize", "--model", model, "--decode", "1,403,407,261,378"});
        QVERIFY(cli.waitForFinished(30000));
        QCOMPARE(cli.exitCode(), 0);
        QCOMPARE(QJsonDocument::fromJson(cli.readAllStandardOutput()).object()["text"].toString(), QString("Once upon a time"));

        cli.start(detox::test::cliPath(), {"tokenize", "--model", "/nonexistent/model", "--text", "x"});
        QVERIFY(cli.waitForFinished(30000));
        QCOMPARE(cli.exitCode(), 2);
        QVERIFY(cli.readAllStandardError().contains("/nonexistent/model"));

        cli.start(detox::test::cliPath(), {"tokenize", "--model", model, "--decode", "1,99999"});
        QVERIFY(cli.waitForFinished(30000));
        QCOMPARE(cli.exitCode(), 2);
    }
};

QTEST_GUILESS_MAIN(TokenizerTest)
#include "test_tokenizer.moc"
