// detox report: result files (compare, evaluate, locate; told apart by their content) turned into
// figures (PNG, PDF, SVG through the ui's offscreen exportFigure, as the GUI exports them) and
// DIR/report.md, which embeds them next to the metrics tables and the provenance of every input.
#include <QDir>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_commands.h"
#include "detox/analysis/comparison.h"
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
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, *value);
    return text;
}

std::string metricsHeader() {
    return "| model | cases | DS | DG_onlyQ | DG_otherA | DG_otherQ | DG_otherAQ | DG_Avg | fluency | knowledge accuracy |\n"
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
}

std::string metricsRow(const std::string& name, const EvaluationMetrics& metrics) {
    const SafetyMetrics& m = metrics.safety;
    std::ostringstream row;
    row << "| " << name << " | " << m.cases;
    for (const std::string& key : safetyRateKeys()) row << " | " << formatRate(safetyRate(m, key), 1);  // n/a: not measured
    row << " | " << formatNumber(m.fluency, 3) << " | " << formatNumber(metrics.knowledgeAccuracy, 3) << " |\n";
    return row.str();
}

std::string judgeLine(const std::string& judge, bool heuristic) {
    return "Judge: `" + judge + "`" +
           (heuristic ? " (heuristic rule judge: not comparable with the paper's classifier-judged figures)" : "") +
           ". Defense rates x100.\n\n";
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
       << judgeLine(result.baseline.judgeName, result.baseline.heuristicJudge) << metricsHeader()
       << metricsRow("original", result.baseline.metrics);
    for (const auto& method : result.methods) md << metricsRow(method.method, method.evaluation.metrics);
    md << "\nEdits and the toxic region (region toxicity: mean cosine of the toxic layer's down-projection columns with the "
          "toxic probe"
       << (result.probe ? "" : "; no probe: the data had too few records") << "):\n\n"
       << mechanismTable(result) << provenanceMarkdown(result.provenance);
    return {md.str(), ui::comparisonFigures(result, figurePrefix(path))};
}

Section evaluationSection(const std::string& path, const EvaluationResult& result) {
    std::ostringstream md;
    md << "## " << path << " (evaluate)\n\n" << judgeLine(result.judgeName, result.heuristicJudge) << metricsHeader()
       << metricsRow("evaluated model", result.metrics) << "\n" << provenanceMarkdown(result.provenance);
    return {md.str(), evaluationFigures(result, figurePrefix(path))};
}

Section locateSection(const std::string& path, const std::vector<LocateResult>& results) {
    std::ostringstream md;
    md << "## " << path << " (locate)\n\n| record | variant | toxic layer |\n|---:|---|---:|\n";
    for (const auto& result : results)
        md << "| " << result.recordId << " | " << result.variant << " | " << result.toxicLayer << " |\n";
    return {md.str() + "\n", locateFigures(results, figurePrefix(path))};
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

Section readSection(const std::string& path) {
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(readFile(path));
    } catch (const nlohmann::json::exception& e) {
        throw Error(path, "", std::string("not valid JSON: ") + e.what());
    }
    checkReportBounds(path, json);
    if (isComparisonJson(json)) return comparisonSection(path, loadComparison(path));
    if (json.is_object() && json.value("kind", std::string()) == "safeedit_evaluation")
        return evaluationSection(path, loadEvaluation(path));
    if (isLocateJson(json)) {
        try {
            return locateSection(path, json.get<std::vector<LocateResult>>());
        } catch (const nlohmann::json::exception& e) {
            throw Error(path, "", std::string("not a valid locate result: ") + e.what());
        }
    }
    throw Error(path, "kind", "expected a compare, evaluate or locate result");
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
    std::vector<Section> sections;  // every input is read before anything is written
    for (const auto& path : args.positional()) sections.push_back(readSection(path));

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
    "figures (PNG/PDF/SVG) and report.md from compare, evaluate and locate results: detox report A.json... --out DIR",
    {
        {"out", "DIR", "output folder (created)"},
    },
    runReport,
});

}  // namespace
}  // namespace detox::cli
