// The byte-level BPE trainer: merges learned in frequency order on a hand-counted corpus, and the
// written tokenizer.json / tokenizer_config.json read back by the project's own Tokenizer.
#include <QTemporaryDir>
#include <QtTest>
#include <nlohmann/json.hpp>

#include "detox/tokenizer/bpe_trainer.h"
#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/tokenizer/tokenizer.h"

using namespace detox;

namespace {

// Words after pre-tokenization ("Ġ" = a leading space): hug x1, Ġhug x2, Ġpug x2, Ġbun x1.
const std::vector<std::string> kHugCorpus = {"hug hug hug pug", " pug bun"};

// Counted by hand, merge by merge (min frequency 2):
//   u g   5  (hug 1 + Ġhug 2 + Ġpug 2)
//   h ug  3  (hug 1 + Ġhug 2)
//   then three pairs of 2: (Ġ,hug), (Ġ,pug), (p,ug). Ties go to the smaller left symbol as bytes:
//   "p" (0x70) < "Ġ" (0xC4 0xA0), so (p,ug) first; then (Ġ,hug) before (Ġ,pug) by the right symbol.
//   Every remaining pair occurs once: training stops.
const std::vector<std::pair<std::string, std::string>> kExpectedMerges = {
    {"u", "g"}, {"h", "ug"}, {"p", "ug"}, {"Ġ", "hug"}, {"Ġ", "pug"}};

}  // namespace

class TestBpeTrainer : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void byteSymbolsFollowGpt2() {
        QCOMPARE(byteLevelSymbol(' '), std::string("Ġ"));
        QCOMPARE(byteLevelSymbol('\n'), std::string("Ċ"));
        QCOMPARE(byteLevelSymbol('a'), std::string("a"));
        QCOMPARE(byteLevelSymbol(0), std::string("Ā"));
    }

    void mergesFollowFrequencyThenSymbolOrder() {
        BpeTrainerSettings settings;
        settings.vocabSize = 400;
        BpeVocabulary vocabulary = trainByteLevelBpe(kHugCorpus, settings);
        QCOMPARE(vocabulary.merges, kExpectedMerges);
        QCOMPARE(vocabulary.size(), 256 + 5 + 3);
        QCOMPARE(vocabulary.tokens[256], std::string("ug"));
        QCOMPARE(vocabulary.tokens[259], std::string("Ġhug"));
        QCOMPARE(vocabulary.tokens['a'], std::string("a"));
        QCOMPARE(vocabulary.specialTokenId("<|endoftext|>"), 261);
        QCOMPARE(vocabulary.specialTokenId("<|im_end|>"), 263);
    }

    void vocabularySizeLimitsTheMerges() {
        BpeTrainerSettings settings;
        settings.vocabSize = 256 + 3 + 2;
        BpeVocabulary vocabulary = trainByteLevelBpe(kHugCorpus, settings);
        QCOMPARE(vocabulary.merges.size(), size_t(2));
        QCOMPARE(vocabulary.merges[1], kExpectedMerges[1]);
        QCOMPARE(vocabulary.size(), 261);

        settings.vocabSize = 258;  // no room for bytes + specials
        QVERIFY_THROWS_EXCEPTION(Error, trainByteLevelBpe(kHugCorpus, settings));
    }

    void specialTokensNeverMerge() {
        BpeTrainerSettings settings;
        settings.vocabSize = 400;
        // Without splitting, "<|im_end|>" x3 would give pairs like (<, |) three times.
        BpeVocabulary vocabulary = trainByteLevelBpe({"<|im_end|>hug<|im_end|>hug<|im_end|>"}, settings);
        for (const auto& [left, right] : vocabulary.merges) {
            QVERIFY(left.find('<') == std::string::npos && left.find('|') == std::string::npos);
            QVERIFY(right.find('<') == std::string::npos && right.find('|') == std::string::npos);
        }
        QCOMPARE(vocabulary.merges.front(), (std::pair<std::string, std::string>{"h", "u"}));  // tie on 2: "h" < "u"
    }

    void writtenTokenizerLoadsAndRoundTrips() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        BpeTrainerSettings settings;
        settings.vocabSize = 400;
        BpeVocabulary vocabulary = trainByteLevelBpe(kHugCorpus, settings);
        writeChatMlTokenizer(dir.path().toStdString(), vocabulary, 256);

        Tokenizer tokenizer = Tokenizer::fromDirectory(dir.path().toStdString());
        QCOMPARE(tokenizer.vocabSize(), 264);
        QCOMPARE(tokenizer.encode("hug pug", false), (std::vector<int>{257, 260}));
        // "Ġbun": the space byte (id 32) and three letters; no learned merge applies.
        QCOMPARE(tokenizer.encode(" hug bun", false), (std::vector<int>{259, ' ', 'b', 'u', 'n'}));
        for (std::string text : {"hug pug bun", "Naïve café — ünïcödé 😀 ok?\n\tTabs  and   spaces.", " leading space"}) {
            auto ids = tokenizer.encode(text, true);
            QCOMPARE(tokenizer.decode(ids, true), text);
        }
        const int imStart = vocabulary.specialTokenId("<|im_start|>");
        const int imEnd = vocabulary.specialTokenId("<|im_end|>");
        QCOMPARE(tokenizer.encode("<|im_start|>hug<|im_end|>", false), (std::vector<int>{imStart, 257, imEnd}));
        QVERIFY(tokenizer.isSpecial(imEnd));
        QCOMPARE(tokenizer.eosId(), std::optional<int>(imEnd));
        QCOMPARE(tokenizer.padId(), std::optional<int>(vocabulary.specialTokenId("<|endoftext|>")));
        QVERIFY(!tokenizer.bosId().has_value());
        QCOMPARE(tokenizer.detectedChatTemplate(), ChatTemplate::ChatML);
        QCOMPARE(tokenizer.applyChatTemplate("hi", ChatTemplate::ChatML),
                 std::string("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                             "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"));
    }

    void writtenJsonHasTheHuggingFaceLayout() {
        QTemporaryDir dir;
        BpeTrainerSettings settings;
        settings.vocabSize = 400;
        writeChatMlTokenizer(dir.path().toStdString(), trainByteLevelBpe(kHugCorpus, settings), 256);
        auto json = nlohmann::json::parse(readFile(dir.path().toStdString() + "/tokenizer.json"));
        QCOMPARE(json["model"]["type"].get<std::string>(), std::string("BPE"));
        QCOMPARE(json["model"]["merges"][3].get<std::string>(), std::string("Ġ hug"));
        QCOMPARE(json["model"]["vocab"]["Ġpug"].get<int>(), 260);
        QCOMPARE(json["pre_tokenizer"]["type"].get<std::string>(), std::string("ByteLevel"));
        QCOMPARE(json["pre_tokenizer"]["add_prefix_space"].get<bool>(), false);
        QCOMPARE(json["decoder"]["type"].get<std::string>(), std::string("ByteLevel"));
        QCOMPARE(json["added_tokens"].size(), size_t(3));
        auto config = nlohmann::json::parse(readFile(dir.path().toStdString() + "/tokenizer_config.json"));
        QCOMPARE(config["eos_token"].get<std::string>(), std::string("<|im_end|>"));
        QVERIFY(config["bos_token"].is_null());
    }
};

QTEST_GUILESS_MAIN(TestBpeTrainer)
#include "test_bpe_trainer.moc"
