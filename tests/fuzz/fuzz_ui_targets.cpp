// The fuzz targets of files the ui reads (session) or `detox report` draws (results): Qt keywords on,
// no LibTorch headers in this file.
#include <QJsonArray>
#include <QJsonDocument>
#include <nlohmann/json.hpp>

#include "detox/analysis/comparison.h"
#include "detox/analysis/locate.h"
#include "detox/error.h"
#include "detox/safeedit/evaluation.h"
#include "detox_ui/figures/figures_comparison.h"
#include "detox_ui/workbench/session.h"
#include "fuzz_targets.h"
#include "report_figures.h"

namespace detox::fuzz {
namespace {

// The result files `detox report` reads (compare, evaluate, locate): every loader on every input, and
// the figures of whatever loads (built as data, not drawn).
class ResultTarget : public FuzzTarget {
public:
    std::vector<std::string> prepare(const std::string& scratch) override {
        path_ = scratch + "/result.json";
        return {};
    }
    void run(const std::string& input) override {
        writeInputFile(path_, input);
        std::string refusals;  // all three, so that each loader's refusals count as outcomes of their own
        const bool loaded = attempt([&] { ui::comparisonFigures(loadComparison(path_), "f-"); }, refusals) |
                            attempt([&] { cli::evaluationFigures(loadEvaluation(path_), "f-"); }, refusals) |
                            attempt([&] { cli::locateFigures(loadLocate(input), "f-"); }, refusals);
        if (!loaded) throw Error(refusals);
    }

private:
    // Reads a locate result as `detox report` does (a JSON list of LocateResult).
    std::vector<LocateResult> loadLocate(const std::string& input) const {
        try {
            return nlohmann::json::parse(input).get<std::vector<LocateResult>>();
        } catch (const nlohmann::json::exception& e) {
            throw Error(path_, "", std::string("not a valid locate result: ") + e.what());
        }
    }
    // True when `action` succeeded; a detox::Error refusal is appended to `refusals`; anything else escapes.
    template <typename Action>
    bool attempt(Action action, std::string& refusals) const {
        try {
            action();
            return true;
        } catch (const Error& e) {
            const std::string what = e.what();  // the scratch path first: the same for every input
            refusals += what.substr(what.rfind(path_, 0) == 0 ? path_.size() : 0, 80) + " | ";
            return false;
        }
    }

    std::string path_;
};

// A workbench session file (File > Open Session), then written back as File > Save Session writes it
// and read again: what we write, we read back.
class SessionTarget : public FuzzTarget {
public:
    std::vector<std::string> prepare(const std::string& scratch) override {
        path_ = QString::fromStdString(scratch + "/session.json");
        return {sessionBytes(exampleSession())};
    }
    void run(const std::string& input) override {
        writeInputFile(path_.toStdString(), input);
        const ui::Session session = ui::loadSessionFile(path_);
        ui::Session::fromJson(session.toJson(), path_);
    }

private:
    static std::string sessionBytes(const ui::Session& session) {
        return QJsonDocument(session.toJson()).toJson(QJsonDocument::Indented).toStdString();
    }
    // A session as the workbench saves it after one finished job.
    static ui::Session exampleSession() {
        ui::Session session;
        session.modelPath = "/models/demo-model";
        session.datasetPath = "/data/safeedit_demo_test.json";
        session.selectedRecord = 3;
        ui::RunLogEntry entry;
        entry.id = 7;
        entry.name = "Locate toxic layer";
        entry.queue = "model";
        entry.settings = QJsonObject{{"record", 3}, {"variant", "masked"}};
        entry.started = QDateTime::fromSecsSinceEpoch(1796000000, Qt::UTC);
        entry.finished = entry.started.addMSecs(1250);
        entry.durationSeconds = 1.25;
        entry.status = ui::JobStatus::Succeeded;
        entry.resultSummary = "toxic layer 2";
        entry.result = QJsonObject{{"toxic_layer", 2}, {"distances", QJsonArray{0.1, 0.4, 0.2, 0.05}}};
        session.runLog.append(entry);
        return session;
    }

    QString path_;
};

}  // namespace

std::unique_ptr<FuzzTarget> makeResultTarget() { return std::make_unique<ResultTarget>(); }
std::unique_ptr<FuzzTarget> makeSessionTarget() { return std::make_unique<SessionTarget>(); }

}  // namespace detox::fuzz
