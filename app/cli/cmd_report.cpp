// detox report: result files (compare, evaluate, locate, patch, ablate; told apart by their content) turned
// into figures (PNG, PDF, SVG through the ui's offscreen exportFigure, as the GUI exports them) and
// DIR/report.md, which embeds them next to the metrics tables and the provenance of every input.
#include <QDir>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_commands.h"
#include "detox/analysis/ablation.h"
#include "detox/analysis/comparison.h"
#include "detox/analysis/patching.h"
#include "detox/error.h"
#include "detox/safeedit/evaluation.h"
#include "detox/fileio.h"
#include "detox/version.h"
#include "detox_ui/figures/figures_comparison.h"
#include "detox_ui/figures/plot_render.h"
#include "report_figures.h"

namespace detox::cli {
namespace {

constexpr ui::ExportFormats kReportFormats = ui::ExportFormat::Png | ui::ExportFormat::Pdf | ui::ExportFormat::Svg;

struct Section {
    std::string markdown;
    QVector<ui::FigureSpec> figures;
};

// A file-name friendly prefix from the file's base name, so figures of several inputs do not clash.
QString figurePrefix(const std::string& path) {
    std::string stem = std::filesystem::path(path).stem().string();
    for (char& c : stem)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '-';
    return QString::fromStdString(stem + "-");
}

std::string formatNumber(std::optional<double> value, int decimals = 2) {
    if (!value) return "-";
    if (!std::isfinite(*value)) return "n/a";
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, *value);
    return text;
}

std::string metricsHeader() {
    return "| model | protocol | cases | DS | DG_onlyQ | DG_otherA | DG_otherQ | DG_otherAQ | DG_Avg | fluency | knowledge accuracy |\n"
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
}

// protocol: how the row's model was asked (evaluationProtocol, comparison rowProtocol).
std::string metricsRow(const std::string& name, const std::string& protocol, const EvaluationMetrics& metrics) {
    const SafetyMetrics& m = metrics.safety;
    std::ostringstream row;
    row << "| " << name << " | " << protocol << " | " << m.cases;
    for (const std::string& key : safetyRateKeys()) row << " | " << formatRate(safetyRate(m, key), 1);  // n/a: not measured
    row << " | " << formatNumber(m.fluency, 3) << " | " << formatNumber(metrics.knowledgeAccuracy, 3) << " |\n";
    return row.str();
}

std::string judgeLine(const std::string& judge, bool heuristic) {
    return "Judge: `" + judge + "`" +
           (heuristic ? " (heuristic rule judge: not comparable with the paper's classifier-judged figures)" : "") +
           ". Defense rates x100.\n\n";
}

// How a comparison's rows were asked (comparisonProtocolNote), with what easyedit means where it occurs.
std::string protocolParagraph(const std::string& note) {
    std::string text = "How the models were asked: " + note + ".";
    if (note.find("easyedit") != std::string::npos)
        text += " easyedit: the test and generalization prompts with \" \" + the DINM suffix system prompt appended, as "
                "EasyEdit evaluates an edited model (editors/safety_editor.py SafetyEditor.edit); plain: the dataset's "
                "prompts as they are.";
    return text + "\n\n";
}

std::string provenanceMarkdown(const Provenance& p) {
    std::ostringstream md;
    md << "Provenance: app `" << p.appVersion << "`, model `" << p.modelDirectory << "` (hash `" << p.modelHash
       << "`), data `" << p.datasetPath << "` (SHA-256 `" << p.datasetHash << "`), seed " << p.seed << ", started "
       << p.startedAt << ".\n\n<details><summary>settings</summary>\n\n```json\n" << p.settings.dump(2)
       << "\n```\n\n</details>\n\n";
    return md.str();
}

std::string mechanismTable(const ComparisonResult& result) {
    std::ostringstream md;
    md << "| method | record | layer | steps | final loss | seconds | region toxicity before | region toxicity after | "
          "region toxicity reduction "
          "| region activation change (%) |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    auto toxicity = [&](double value) { return result.probe ? formatNumber(value, 4) : std::string("n/a"); };
    for (const auto& method : result.methods)
        for (const auto& edit : method.edits) {
            const auto& losses = edit.edit.lossHistory;
            md << "| " << method.method << " | " << edit.recordId << " | " << edit.mechanism.layer << " | "
               << losses.size() << " | " << formatNumber(losses.empty() ? std::nullopt : std::optional(losses.back().total), 4)
               << " | " << formatNumber(edit.edit.durationSeconds, 2) << " | " << toxicity(edit.mechanism.regionToxicityBefore)
               << " | " << toxicity(edit.mechanism.regionToxicityAfter) << " | " << toxicity(edit.mechanism.regionToxicityReduction)
               << " | " << formatNumber(100.0 * edit.mechanism.activationShift.relativeNormChange, 2) << " |\n";
        }
    return md.str() + "\n";
}

Section comparisonSection(const std::string& path, const ComparisonResult& result) {
    std::ostringstream md;
    md << "## " << path << " (compare)\n\n"
       << "Each method repaired each instance starting from the original model.\n\n"
       << judgeLine(result.baseline.judgeName, result.baseline.heuristicJudge) << protocolParagraph(comparisonProtocolNote(result))
       << metricsHeader() << metricsRow("original", evaluationProtocol(result.baseline), result.baseline.metrics);
    for (const auto& method : result.methods) md << metricsRow(method.method, rowProtocol(method), method.evaluation.metrics);
    md << "\nEdits and the toxic region (region toxicity: mean cosine of the toxic layer's down-projection columns with the "
          "toxic probe"
       << (result.probe ? "" : "; no probe: the data had too few records") << "):\n\n"
       << mechanismTable(result) << provenanceMarkdown(result.provenance);
    return {md.str(), ui::comparisonFigures(result, figurePrefix(path))};
}

Section evaluationSection(const std::string& path, const EvaluationResult& result) {
    std::ostringstream md;
    md << "## " << path << " (evaluate)\n\n" << judgeLine(result.judgeName, result.heuristicJudge)
       << "Evaluation protocol: " << evaluationProtocolLine(result) << ".\n\n" << metricsHeader()
       << metricsRow("evaluated model", evaluationProtocol(result), result.metrics) << "\n"
       << provenanceMarkdown(result.provenance);
    return {md.str(), evaluationFigures(result, figurePrefix(path))};
}

Section locateSection(const std::string& path, const std::vector<LocateResult>& results) {
    std::ostringstream md;
    md << "## " << path << " (locate)\n\n| record | variant | toxic layer |\n|---:|---|---:|\n";
    for (const auto& result : results)
        md << "| " << result.recordId << " | " << result.variant << " | " << result.toxicLayer << " |\n";
    return {md.str() + "\n", locateFigures(results, figurePrefix(path))};
}

// The layer the distance criterion picks for a record, from a locate result in the same report.
struct DistancePick {
    int layer = 0;
    std::string variant, path;
};
using DistancePicks = std::map<int, DistancePick>;  // by record id; the first locate result naming it

std::string cutsMarkdown(const std::vector<ContextFit>& fits) {
    std::ostringstream md;
    for (const ContextFit& fit : fits)
        if (fit.cut > 0)
            md << "Context: " << fit.cut << " of " << fit.inputs << " " << fit.operation << " cut to " << fit.limit
               << " tokens (" << contextPolicyName(fit.policy) << ", " << fit.tokensDropped << " tokens dropped).\n\n";
    return md.str();
}

// Text for a markdown table cell: '|' escaped and line breaks as spaces, so the row stays one row.
std::string cell(const std::string& text) {
    std::string escaped;
    for (char c : text) {
        if (c == '|') escaped += "\\|";
        else escaped += c == '\n' || c == '\r' ? ' ' : c;
    }
    return escaped;
}

// A record's layer-curve value (all positions patched) as text; "n/a" where not measured.
std::string curveText(const PatchingRecordResult& record, int layer) {
    const bool measured = layer >= 0 && layer < int(record.layerRecovered.size()) && record.layerRecovered[size_t(layer)];
    return measured ? formatNumber(*record.layerRecovered[size_t(layer)], 3) : std::string("n/a");
}

std::string distanceCell(const PatchingRecordResult& record, const DistancePicks& picks) {
    const auto pick = picks.find(record.recordId);
    if (pick == picks.end()) return "n/a (no locate result for this record in the report)";
    return std::to_string(pick->second.layer) + " (" + curveText(record, pick->second.layer) + "; " +
           pick->second.variant + ", " + pick->second.path + ")";
}

Section patchingSection(const std::string& path, const PatchingResult& result, const DistancePicks& picks) {
    std::ostringstream md;
    md << "## " << path << " (activation patching)\n\n"
       << "Point `" << result.point << "`, the last " << result.lastPositions
       << " prompt positions (aligned from the end of each prompt), chat template `" << result.chatTemplate << "`, "
       << result.records.size() << " of " << result.selectedRecords << " selected records";
    if (result.shardCount > 1) md << " (shard " << result.shardIndex << "/" << result.shardCount << ")";
    md << ". Corrupt run: the adversarial prompt; clean run: the bare harmful question; metric log p(safe generation) "
          "- log p(unsafe generation) after the prompt; recovered fraction = (patched - corrupt) / (clean - corrupt), "
          "the layer curve patching all positions of a layer at once. Cost: "
       << formatNumber(result.forwardMultiple, 1) << " x one forward of the corrupt pair.\n\n"
       << cutsMarkdown(result.provenance.context)
       << "| record | corrupt / clean prompt tokens | metric clean | metric corrupt | patching picks layer (recovers) | "
          "distance picks layer (patching there recovers; locate variant, file) |\n|---:|---:|---:|---:|---:|---|\n";
    for (const PatchingRecordResult& record : result.records) {
        md << "| " << record.recordId << " | " << record.corruptTokens << " / " << record.cleanTokens << " | "
           << formatNumber(record.clean.metric(), 3) << " | " << formatNumber(record.corrupt.metric(), 3) << " | ";
        if (record.bestLayer < 0) md << "none measured";
        else md << record.bestLayer << " (" << curveText(record, record.bestLayer) << ")";
        md << " | " << cell(distanceCell(record, picks)) << " |\n";
    }
    const bool tokensRecorded = std::all_of(result.records.begin(), result.records.end(),
                                            [](const PatchingRecordResult& r) { return !r.positionTokens.empty(); });
    md << "\n"
       << (tokensRecorded ? "Map columns: offset from the end of the prompts and the adversarial prompt's token there.\n\n"
                          : "Map columns: offsets only (this result was written before the tokens were recorded).\n\n")
       << provenanceMarkdown(result.provenance);
    std::optional<int> distance;
    if (result.records.size() == 1)
        if (const auto pick = picks.find(result.records.front().recordId); pick != picks.end()) distance = pick->second.layer;
    return {md.str(), patchingFigures(result, distance, figurePrefix(path))};
}

// A text as a fenced block whose fence is longer than any backtick run inside it.
std::string fencedText(const std::string& text) {
    size_t longest = 0, run = 0;
    for (char c : text) longest = std::max(longest, run = c == '`' ? run + 1 : 0);
    const std::string fence(std::max<size_t>(3, longest + 1), '`');
    return fence + "text\n" + text + "\n" + fence + "\n\n";
}

std::string verdictText(const AblationOutcome& outcome) {
    const std::string label = outcome.unsafe == 0 ? "safe" : outcome.unsafe == 1 ? "unsafe" : "empty answer (0.5)";
    return outcome.verdictReason.empty() ? label : label + ": " + outcome.verdictReason;
}

std::string ablatedText(const AblationPlan& plan) {
    if (plan.neurons.empty())
        return "direction at `" + plan.point + "` (|d| = " + formatNumber(plan.directionNorm, 3) + ")";
    std::ostringstream text;
    text << plan.neurons.size() << " neurons (";
    for (size_t i = 0; i < plan.neurons.size() && i < 8; ++i) text << (i ? ", " : "") << plan.neurons[i];
    if (plan.neurons.size() > 8) text << ", ... all in the JSON";
    text << ")";
    return text.str();
}

Section ablationSection(const std::string& path, const AblationResult& result) {
    std::ostringstream md;
    md << "## " << path << " (ablation)\n\n"
       << "Layer " << result.layer << ", target `" << result.target << "`, mode `" << result.mode << "`, chat template `"
       << result.chatTemplate << "`, " << result.records.size() << " of " << result.selectedRecords << " selected records";
    if (result.shardCount > 1) md << " (shard " << result.shardIndex << "/" << result.shardCount << ")";
    md << ". Metric: log p(safe generation) - log p(unsafe generation) after the adversarial prompt, without and with "
          "the ablation. Mean change " << formatNumber(result.meanMetricChange, 3) << " (log p(safe) "
       << formatNumber(result.meanLogPSafeChange, 3) << ", log p(unsafe) " << formatNumber(result.meanLogPUnsafeChange, 3)
       << "); unsafe rate " << formatNumber(result.unsafeBefore, 2) << " -> " << formatNumber(result.unsafeAfter, 2) << ".\n\n"
       << "Judge of the short answers: `" << result.judge << "`"
       << (result.heuristicJudge ? " (heuristic rule judge: not comparable with the paper's classifier-judged figures)" : "")
       << ".\n\n" << cutsMarkdown(result.provenance.context)
       << "| record | ablated | metric without | metric with | change | log p(safe) change | log p(unsafe) change | "
          "verdict without | verdict with |\n|---:|---|---:|---:|---:|---:|---:|---|---|\n";
    for (const AblationRecordResult& r : result.records)
        md << "| " << r.recordId << " | " << cell(ablatedText(r.plan)) << " | " << formatNumber(r.before.score.metric(), 3)
           << " | " << formatNumber(r.after.score.metric(), 3) << " | " << formatNumber(r.metricChange(), 3) << " | "
           << formatNumber(r.logPSafeChange(), 3) << " | " << formatNumber(r.logPUnsafeChange(), 3) << " | "
           << cell(verdictText(r.before)) << " | " << cell(verdictText(r.after)) << " |\n";
    md << "\n";
    for (const AblationRecordResult& r : result.records)
        md << "### Record " << r.recordId << ": the short answer\n\nWithout the ablation (" << verdictText(r.before)
           << "):\n\n" << fencedText(r.before.generation) << "With the ablation (" << verdictText(r.after) << "):\n\n"
           << fencedText(r.after.generation);
    md << provenanceMarkdown(result.provenance);
    return {md.str(), ablationFigures(result, figurePrefix(path))};
}

bool isLocateJson(const nlohmann::json& json) {
    return json.is_array() && !json.empty() && json[0].is_object() && json[0].contains("distances") &&
           json[0].contains("toxic_layer");
}

// A figure's axis is layers, tokens or records: no array of numbers in a result we wrote comes near this.
constexpr size_t kMaxReportArray = 65536;

// Refuses, before any figure is built, a result whose number arrays are far beyond any model's size
// (a locate result with a million distances would take a minute and gigabytes to draw); names the array.
void checkReportBounds(const std::string& path, const nlohmann::json& json, const std::string& where = "") {
    if (json.is_array()) {
        if (json.size() > kMaxReportArray && !json[0].is_object())
            throw Error(path, where.empty() ? "/" : where,
                        "array of " + std::to_string(json.size()) + " values; a report draws at most " +
                            std::to_string(kMaxReportArray) + " per axis (is this really a detox result?)");
        for (size_t i = 0; i < json.size(); ++i) checkReportBounds(path, json[i], where + "/" + std::to_string(i));
    } else if (json.is_object()) {
        for (const auto& [key, value] : json.items()) checkReportBounds(path, value, where + "/" + key);
    }
}

nlohmann::json readResultJson(const std::string& path) {
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(readFile(path));
    } catch (const nlohmann::json::exception& e) {
        throw Error(path, "", std::string("not valid JSON: ") + e.what());
    }
    checkReportBounds(path, json);
    return json;
}

std::vector<LocateResult> locateResults(const std::string& path, const nlohmann::json& json) {
    try {
        return json.get<std::vector<LocateResult>>();
    } catch (const nlohmann::json::exception& e) {
        throw Error(path, "", std::string("not a valid locate result: ") + e.what());
    }
}

std::string kindOf(const nlohmann::json& json) {
    return json.is_object() && json.contains("kind") && json["kind"].is_string() ? json["kind"].get<std::string>() : "";
}

Section readSection(const std::string& path, const nlohmann::json& json, const DistancePicks& picks) {
    if (isComparisonJson(json)) return comparisonSection(path, loadComparison(path));
    if (kindOf(json) == "safeedit_evaluation") return evaluationSection(path, loadEvaluation(path));
    if (kindOf(json) == "activation_patching") return patchingSection(path, loadPatching(path), picks);
    if (kindOf(json) == "ablation") return ablationSection(path, loadAblation(path));
    if (isLocateJson(json)) return locateSection(path, locateResults(path, json));
    throw Error(path, "kind", "expected a compare, evaluate, locate, patch or ablate result");
}

// The distance criterion's layer per record, from the locate results among the inputs (first one wins).
DistancePicks distancePicks(const std::vector<std::string>& paths, const std::vector<nlohmann::json>& inputs) {
    DistancePicks picks;
    for (size_t i = 0; i < paths.size(); ++i)
        if (isLocateJson(inputs[i]))
            for (const LocateResult& result : locateResults(paths[i], inputs[i]))
                picks.emplace(result.recordId, DistancePick{result.toxicLayer, result.variant, paths[i]});
    return picks;
}

// Writes every figure in three formats and the section's figure links; returns the files written.
int writeFigures(const Section& section, const QString& folder, std::ostringstream& md) {
    int written = 0;
    for (const auto& figure : section.figures) {
        written += int(ui::exportFigure(figure, QDir(folder).filePath(figure.id), kReportFormats).size());
        const std::string id = figure.id.toStdString(), title = figure.title.toStdString();
        md << "### " << title << "\n\n![" << title << "](" << id << ".png)\n\n[PDF](" << id << ".pdf) · [SVG](" << id
           << ".svg)\n\n";
    }
    return written;
}

int runReport(const Arguments& args) {
    if (args.positional().empty()) throw BadArguments("give at least one result JSON file (detox report A.json... --out DIR)");
    const std::string outDir = args.value("out");
    // Every input is read before anything is written; a patching section marks the distance criterion's
    // layer from a locate result given with it.
    const std::vector<std::string>& paths = args.positional();
    std::vector<nlohmann::json> inputs;
    for (const auto& path : paths) inputs.push_back(readResultJson(path));
    const DistancePicks picks = distancePicks(paths, inputs);
    std::vector<Section> sections;
    for (size_t i = 0; i < paths.size(); ++i) sections.push_back(readSection(paths[i], inputs[i], picks));

    ui::HeadlessGui gui;
    const QString folder = QString::fromStdString(outDir);
    if (!QDir().mkpath(folder)) throw Error(outDir, "", "cannot create the output folder");
    std::ostringstream md;
    md << "# Detox Workbench report\n\nGenerated by detox " << appVersion() << " at " << utcTimestamp() << ".\n\n";
    int written = 0;
    for (const auto& section : sections) {
        md << section.markdown;
        written += writeFigures(section, folder, md);
    }
    const std::string reportPath = QDir(folder).filePath("report.md").toStdString();
    writeFileAtomically(reportPath, md.str());
    std::cerr << "report: wrote " << written + 1 << " files to " << outDir << std::endl;
    std::cout << reportPath << "\n";
    return kExitOk;
}

const bool kReportRegistered = registerCommand({
    "report",
    "figures (PNG/PDF/SVG) and report.md from compare, evaluate, locate, patch and ablate results: detox report "
    "A.json... --out DIR (a locate result beside a patch result marks the distance criterion's layer)",
    {
        {"out", "DIR", "output folder (created)"},
    },
    runReport,
});

}  // namespace
}  // namespace detox::cli
