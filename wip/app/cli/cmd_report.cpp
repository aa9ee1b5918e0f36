// detox report: turns result JSON files (compare, locate, evaluate; told apart by their keys) into
// figures (PNG, PDF, SVG through the ui's offscreen exportFigure) and DIR/report.md with a metrics
// table and the provenance of every input.
#include <QDir>
#include <QFileInfo>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_commands.h"
#include "detox/error.h"
#include "detox/fileio.h"
#include "detox/results.h"
#include "detox/version.h"
#include "detox_ui/plot_render.h"
#include "report_figures.h"

namespace detox::cli {
namespace {

enum class ResultKind { Compare, Locate, Evaluate };

struct ResultFile {
    std::string path;
    std::string prefix;  // figure id prefix: the file's base name
    ResultKind kind;
    nlohmann::json json;
};

ResultKind detectKind(const nlohmann::json& json, const std::string& path) {
    if (json.is_object() && json.value("kind", "") == "detox-compare") return ResultKind::Compare;
    if (json.is_object() && json.contains("metrics") && json.contains("cases") && json.contains("provenance"))
        return ResultKind::Evaluate;
    if (json.is_array() && !json.empty() && json[0].is_object() && json[0].contains("distances") &&
        json[0].contains("toxic_layer"))
        return ResultKind::Locate;
    throw Error(path, "kind", "a compare, locate or evaluate result (none of their keys were found)");
}

std::string fileIdPrefix(const std::string& path) {
    std::string stem = std::filesystem::path(path).stem().string();
    for (char& c : stem)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '-';
    return stem + "-";
}

ResultFile readResult(const std::string& path) {
    ResultFile file{path, fileIdPrefix(path), ResultKind::Compare, {}};
    try {
        file.json = nlohmann::json::parse(readFile(path));
    } catch (const nlohmann::json::exception& e) {
        throw Error(path, "json", std::string("valid JSON (") + e.what() + ")");
    }
    file.kind = detectKind(file.json, path);
    return file;
}

std::string formatNumber(const nlohmann::json& value, int decimals = 2) {
    if (!value.is_number()) return "-";
    char text[64];
    std::snprintf(text, sizeof text, "%.*f", decimals, value.get<double>());
    return text;
}

std::string metricsRow(const std::string& name, const nlohmann::json& metrics) {
    std::string row = "| " + name + " |";
    for (const auto& key : reportMetricKeys())
        row += " " + formatNumber(metrics.contains(key) ? metrics[key] : nlohmann::json()) + " |";
    return row + "\n";
}

std::string metricsTableHeader() {
    std::string header = "| method |", rule = "|---|";
    for (const auto& key : reportMetricKeys()) {
        header += " " + key + " |";
        rule += "---:|";
    }
    return header + "\n" + rule + "\n";
}

std::string provenanceSection(const nlohmann::json& provenance) {
    std::ostringstream md;
    md << "Provenance:\n\n";
    for (const char* key : {"app_version", "model_directory", "model_hash", "dataset_path", "dataset_hash", "method",
                            "seed", "started_at", "judge"}) {
        auto it = provenance.find(key);
        if (it == provenance.end()) continue;
        md << "- " << key << ": `" << (it->is_string() ? it->get<std::string>() : it->dump()) << "`\n";
    }
    if (provenance.contains("settings"))
        md << "\nSettings:\n\n```json\n" << provenance["settings"].dump(2) << "\n```\n";
    return md.str();
}

class ReportWriter {
public:
    explicit ReportWriter(QString folder) : folder_(std::move(folder)) {}

    void addCompare(const ResultFile& file) {
        const nlohmann::json& json = file.json;
        const auto& methods = json.at("methods");
        std::ostringstream md;
        md << "## " << file.path << " (compare)\n\n";
        const std::string judge = json.contains("judge") ? json["judge"].value("name", "") : "";
        md << "Metrics (defense rates x100; fluency = n-gram entropy; judge: " << judge << "):\n\n";
        md << metricsTableHeader() << metricsRow("original model", json.at("baseline").at("metrics"));
        std::vector<std::pair<std::string, nlohmann::json>> named{{"original", json["baseline"]["metrics"]}};
        for (const auto& method : methods) {
            md << metricsRow(method.at("method").get<std::string>(), method.at("metrics"));
            named.emplace_back(method["method"].get<std::string>(), method["metrics"]);
        }
        md << "\nEdit time and toxic-region change:\n\n| method | seconds | layer | toxicity before | toxicity after "
              "| reduction | activation norm change |\n|---|---:|---:|---:|---:|---:|---:|\n";
        for (const auto& method : methods)
            for (const auto& m : method.at("mechanism"))
                md << "| " << method["method"].get<std::string>() << " | " << formatNumber(method["duration_seconds"])
                   << " | " << m.value("layer", -1) << " | " << formatNumber(m["toxicity_before"], 4) << " | "
                   << formatNumber(m["toxicity_after"], 4) << " | " << formatNumber(m["toxicity_reduction"], 4)
                   << " | " << formatNumber(m["activation_shift"]["relative_norm_change"], 4) << " |\n";
        md << "\n" << provenanceSection(json.at("provenance")) << "\n";
        sections_.push_back({md.str(), {}});

        Section& section = sections_.back();
        section.figures.push_back(metricsBarsFigure(named, file.prefix + "metrics", "SafeEdit defense rates"));
        section.figures.push_back(lossCurvesFigure(methods, file.prefix));
        for (const auto& method : methods) section.figures.push_back(distanceCurvesFigure(method, file.prefix));
        for (const auto& method : methods) {
            section.figures.push_back(parameterShiftFigure(method, file.prefix));
            heatmaps_.push_back({sections_.size() - 1, section.figures.size() - 1});
        }
        section.figures.push_back(activationShiftFigure(methods, file.prefix));
    }

    void addLocate(const ResultFile& file) {
        std::ostringstream md;
        md << "## " << file.path << " (locate)\n\n| id | toxic layer |\n|---:|---:|\n";
        for (const auto& result : file.json) md << "| " << result.value("id", 0) << " | " << result.value("toxic_layer", -1) << " |\n";
        sections_.push_back({md.str() + "\n", {locateCurvesFigure(file.json, file.prefix + "toxic-layers")}});
    }

    void addEvaluate(const ResultFile& file) {
        const nlohmann::json& metrics = file.json.at("metrics");
        std::ostringstream md;
        md << "## " << file.path << " (evaluate)\n\n" << metricsTableHeader() << metricsRow("evaluated model", metrics)
           << "\n" << provenanceSection(file.json.at("provenance")) << "\n";
        sections_.push_back(
            {md.str(), {metricsBarsFigure({{"evaluated model", metrics}}, file.prefix + "metrics", "SafeEdit defense rates")}});
    }

    // Exports every figure and writes report.md; returns the number of files written.
    int write() {
        shareParameterShiftRange();
        QDir().mkpath(folder_);
        std::ostringstream md;
        md << "# Detox Workbench report\n\nGenerated by detox " << appVersion() << " at " << utcTimestamp() << ".\n\n";
        int written = 0;
        for (const auto& section : sections_) {
            md << section.markdown;
            for (const auto& figure : section.figures) {
                const QString base = QDir(folder_).filePath(figure.id);
                written += ui::exportFigure(figure, base, ui::ExportFormat::Png | ui::ExportFormat::Pdf |
                                                              ui::ExportFormat::Svg).size();
                const std::string id = figure.id.toStdString();
                md << "### " << figure.title.toStdString() << "\n\n![" << figure.title.toStdString() << "](" << id
                   << ".png)\n\n[PDF](" << id << ".pdf) · [SVG](" << id << ".svg)\n\n";
            }
        }
        writeFileAtomically(QDir(folder_).filePath("report.md").toStdString(), md.str());
        return written + 1;
    }

private:
    struct Section {
        std::string markdown;
        QVector<ui::FigureSpec> figures;
    };

    // One colour scale for every parameter-shift heatmap so the methods can be compared by eye.
    void shareParameterShiftRange() {
        QVector<ui::FigureSpec*> figures;
        for (const auto& [section, figure] : heatmaps_) figures.push_back(&sections_[section].figures[figure]);
        if (!figures.isEmpty()) ui::shareHeatmapRange(figures);
    }

    QString folder_;
    std::vector<Section> sections_;
    std::vector<std::pair<size_t, qsizetype>> heatmaps_;
};

int runReport(const Arguments& args) {
    if (args.positional().empty()) throw BadArguments("give at least one result JSON file");
    if (!args.has("out")) throw BadArguments("--out DIR is required");
    std::vector<ResultFile> files;
    for (const auto& path : args.positional()) files.push_back(readResult(path));
    // Without a display the figures are drawn offscreen.
    if (qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY") &&
        qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
        qputenv("QT_QPA_PLATFORM", "offscreen");
    ui::HeadlessGui gui;
    ReportWriter writer(QString::fromStdString(args.value("out")));
    for (const auto& file : files) {
        if (file.kind == ResultKind::Compare) writer.addCompare(file);
        else if (file.kind == ResultKind::Locate) writer.addLocate(file);
        else writer.addEvaluate(file);
    }
    const int written = writer.write();
    std::cerr << "report: wrote " << written << " files to " << args.value("out") << std::endl;
    std::cout << QDir(QString::fromStdString(args.value("out"))).filePath("report.md").toStdString() << "\n";
    return kExitOk;
}

const bool kReportRegistered = registerCommand({
    "report",
    "figures (PNG/PDF/SVG) and report.md from compare, locate and evaluate result JSON files",
    {
        {"out", "DIR", "output folder (created)"},
    },
    runReport,
});

}  // namespace
}  // namespace detox::cli
