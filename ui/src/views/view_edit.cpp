#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/judge.h"
#include "detox/safeedit/metrics.h"
#include "detox_ui/figures/figures_core.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/views/view_edit.h"
#include "view_support.h"

namespace detox::ui {

constexpr qint64 kLiveLossRedrawMs = 100;

QString editMethodName(EditMethod method) {
    switch (method) {
        case EditMethod::Dinm: return QStringLiteral("dinm");
        case EditMethod::Sft: return QStringLiteral("sft");
        case EditMethod::Dpo: return QStringLiteral("dpo");
    }
    return {};
}

QString regionInputName(RegionInput input) {
    switch (input) {
        case RegionInput::Adversarial: return QStringLiteral("adversarial prompt");
        case RegionInput::Safe: return QStringLiteral("safe generation");
        case RegionInput::Unsafe: return QStringLiteral("unsafe generation");
    }
    return {};
}

detox::ChatTemplate resolvedChatFormat(const detox::Model& model, std::optional<detox::ChatTemplate> chosen) {
    return chosen.value_or(model.tokenizer().detectedChatTemplate());
}

std::vector<std::vector<int>> regionInputIds(const detox::Model& model, const detox::SafeEditRecord& record,
                                             int maxTokens, std::optional<detox::ChatTemplate> chatFormat) {
    const detox::Tokenizer& tokenizer = model.tokenizer();
    // The prompt's end (the open assistant turn) is where the answer starts: keep the last tokens.
    std::vector<int> prompt = detox::promptIds(tokenizer, record.adversarialPrompt, resolvedChatFormat(model, chatFormat));
    if (int(prompt.size()) > maxTokens) prompt.erase(prompt.begin(), prompt.end() - maxTokens);
    std::vector<std::vector<int>> ids{std::move(prompt)};
    for (const std::string* text : {&record.safeGeneration, &record.unsafeGeneration}) {
        std::vector<int> tokens = tokenizer.encode(*text);
        if (int(tokens.size()) > maxTokens) tokens.resize(size_t(maxTokens));
        ids.push_back(std::move(tokens));
    }
    return ids;
}

std::vector<detox::NeuronTokenActivations> measureRegion(const detox::Model& model, int layer,
                                                         const detox::SafeEditRecord& record,
                                                         std::optional<detox::ChatTemplate> chatFormat) {
    std::vector<detox::NeuronTokenActivations> measured;
    for (const std::vector<int>& ids : regionInputIds(model, record, 64, chatFormat))
        measured.push_back(neuronActivations(model, layer, ids));
    return measured;
}

QJsonObject MethodRun::toJson() const {
    nlohmann::json json;
    json["id"] = id.toStdString();
    json["method"] = method.toStdString();
    json["record"] = recordId;
    json["chat_format"] = chatFormat.toStdString();
    json["edit"] = edit;
    json["parameter_shift"] = shift;
    json["fluency_before"] = fluencyBefore;
    json["fluency_after"] = fluencyAfter;
    json["knowledge_before"] = knowledgeBefore ? nlohmann::json(*knowledgeBefore) : nlohmann::json();
    json["knowledge_after"] = knowledgeAfter ? nlohmann::json(*knowledgeAfter) : nlohmann::json();
    nlohmann::json rows = nlohmann::json::array();
    for (const GenerationComparison& g : generations)
        rows.push_back({{"key", g.key}, {"input", g.input}, {"before", g.before}, {"after", g.after},
                        {"unsafe_before", g.unsafeBefore}, {"unsafe_after", g.unsafeAfter}});
    json["generations"] = rows;
    json["region_layer"] = regionLayer;
    // Mean over tokens per input: the full per-token tensors are for the plots, not the log.
    auto means = [](const std::vector<detox::NeuronTokenActivations>& inputs) {
        nlohmann::json list = nlohmann::json::array();
        for (const auto& input : inputs) list.push_back(input.meanOverTokens());
        return list;
    };
    json["region_mean_before"] = means(regionBefore);
    json["region_mean_after"] = means(regionAfter);
    json["curve_before"] = curveBefore;
    json["curve_after"] = curveAfter;
    return toQJson(json);
}

namespace {

// The record's inputs keyed like the SafeEdit metrics: the adversarial prompt and the four
// generalization inputs (those present).
std::vector<std::pair<std::string, std::string>> recordInputs(const detox::SafeEditRecord& record) {
    const auto& keys = detox::safetyInputKeys();
    std::vector<std::pair<std::string, std::string>> inputs{{keys[0], record.adversarialPrompt}};
    if (record.generalization) {
        const auto& g = *record.generalization;
        const std::string texts[] = {g.onlyHarmfulQuestion, g.otherAttackPrompt, g.otherQuestion,
                                     g.otherQuestionsAndAttack};
        for (int i = 0; i < 4; ++i)
            if (!texts[i].empty()) inputs.emplace_back(keys[size_t(i) + 1], texts[i]);
    }
    return inputs;
}

// Formatted and stopped as the SafeEdit evaluation does it, so the table shows what the metrics judge.
std::vector<std::string> generateAll(const detox::Model& model, const std::vector<std::pair<std::string, std::string>>& inputs,
                                     detox::ChatTemplate format, int maxNewTokens, detox::JobControl& job) {
    std::vector<std::string> messages;
    for (const auto& [key, text] : inputs) messages.push_back(text);
    std::vector<std::string> texts;
    for (const detox::Generation& generation : detox::generateResponses(model, messages, format, maxNewTokens, job))
        texts.push_back(generation.text);
    return texts;
}

std::optional<double> recordKnowledge(const detox::Model& model, const detox::SafeEditRecord& record,
                                      detox::ChatTemplate format) {
    if (!record.knowledge) return std::nullopt;
    return detox::knowledgeAccuracy(model, *record.knowledge, format);
}

}  // namespace

EditView::EditView(QWidget* parent) : QWidget(parent) {
    qRegisterMetaType<detox::ui::MethodRun>();
    methodCombo_ = new QComboBox(this);
    methodCombo_->addItem(QStringLiteral("DINM"), int(EditMethod::Dinm));
    methodCombo_->addItem(QStringLiteral("SFT"), int(EditMethod::Sft));
    methodCombo_->addItem(QStringLiteral("DPO"), int(EditMethod::Dpo));
    chatFormatCombo_ = new QComboBox(this);
    chatFormatCombo_->addItem(tr("detected"), -1);
    for (detox::ChatTemplate format : detox::allChatTemplates())
        chatFormatCombo_->addItem(QString::fromStdString(detox::chatTemplateName(format)), int(format));
    chatFormatCombo_->setToolTip(tr("How the before/after prompts are formatted; the evaluation uses the detected template"));
    learningRate_ = new QDoubleSpinBox(this);
    learningRate_->setDecimals(8);
    learningRate_->setRange(1e-8, 1.0);
    learningRate_->setSingleStep(1e-5);
    steps_ = new QSpinBox(this);
    steps_->setRange(1, 100000);
    editWeight_ = new QDoubleSpinBox(this);
    editWeight_->setDecimals(4);
    editWeight_->setRange(0.0, 100.0);
    stepsLabel_ = new QLabel(this);
    weightLabel_ = new QLabel(this);
    defaultsSource_ = new QLabel(this);
    defaultsSource_->setObjectName("defaultsSource");
    defaultsSource_->setWordWrap(true);
    defaultsSource_->setEnabled(false);  // greyed: an explanation, not a control
    runButton_ = new QPushButton(tr("Run"), this);
    cancelButton_ = new QPushButton(tr("Cancel"), this);
    undoButton_ = new QPushButton(tr("Undo all edits"), this);
    progress_ = new QProgressBar(this);
    progress_->setRange(0, 1);
    progress_->setValue(0);
    status_ = new QLabel(this);
    lossPlot_ = new PlotView(this);
    lossPlot_->clearFigure(tr("The loss appears here while a method runs"));
    table_ = new QTableWidget(0, 6, this);
    table_->setHorizontalHeaderLabels({tr("Input"), tr("Text"), tr("Before"), tr("Verdict before"), tr("After"),
                                       tr("Verdict after")});
    // The texts share the width; keys and verdicts take what they need.
    for (int column : {1, 2, 4}) table_->horizontalHeader()->setSectionResizeMode(column, QHeaderView::Stretch);
    for (int column : {0, 3, 5}) table_->horizontalHeader()->setSectionResizeMode(column, QHeaderView::ResizeToContents);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setWordWrap(true);
    // Wrapped texts need their row heights again whenever the columns change width (e.g. first shown).
    connect(table_->horizontalHeader(), &QHeaderView::sectionResized, table_, &QTableWidget::resizeRowsToContents,
            Qt::QueuedConnection);

    auto* form = new QFormLayout;
    form->addRow(tr("Method:"), methodCombo_);
    form->addRow(tr("Chat format:"), chatFormatCombo_);
    form->addRow(tr("Learning rate:"), learningRate_);
    form->addRow(stepsLabel_, steps_);
    form->addRow(weightLabel_, editWeight_);
    form->addRow(defaultsSource_);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(runButton_);
    buttons->addWidget(cancelButton_);
    buttons->addWidget(undoButton_);
    buttons->addWidget(progress_, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(form);
    layout->addLayout(buttons);
    layout->addWidget(status_);
    layout->addWidget(lossPlot_, 2);
    layout->addWidget(table_, 3);  // the generations are what the reader compares

    connect(methodCombo_, &QComboBox::currentIndexChanged, this, [this] { fillDefaults(); });
    connect(runButton_, &QPushButton::clicked, this, &EditView::run);
    connect(cancelButton_, &QPushButton::clicked, this, &EditView::cancel);
    connect(undoButton_, &QPushButton::clicked, this, &EditView::undo);
    fillDefaults();
    updateEnabled();
}

EditView::~EditView() {
    // A running job owns its share of the editor and the model: it stops at its next checkpoint and frees
    // them on its worker; its callbacks are not called once this view is gone (JobSpec::receiver).
    if (runner_ && currentJob_) runner_->cancel(currentJob_);
}

void EditView::setModel(std::shared_ptr<detox::Model> model) {
    model_ = std::move(model);
    editor_ = model_ ? std::make_shared<detox::ModelEditor>(*model_, detox::EditMode::Reset) : nullptr;
    lastRun_.reset();
    recommended_ = {};
    recommendedError_.clear();
    if (model_) {
        try {  // a small JSON file next to the weights: cheap enough for the GUI thread
            recommended_ = detox::loadRecommendedSettings(model_->directory());
        } catch (const std::exception& error) {
            recommendedError_ = QString::fromStdString(error.what());
        }
    }
    updateDetectedFormatName();
    fillDefaults();  // DINM's learning rate depends on the model family and on what the model recommends
    updateEnabled();
}

void EditView::setRecord(const detox::SafeEditRecord& record) {
    record_ = record;
    updateEnabled();
}

void EditView::setJobRunner(JobRunner* runner) {
    if (runner_) disconnect(runner_, nullptr, this, nullptr);
    runner_ = runner;
    if (runner_) connect(runner_, &JobRunner::jobProgress, this, &EditView::onProgress);
    updateEnabled();
}

EditMethod EditView::method() const { return EditMethod(methodCombo_->currentData().toInt()); }

void EditView::setMethod(EditMethod method) { methodCombo_->setCurrentIndex(methodCombo_->findData(int(method))); }

void EditView::setMaxNewTokens(int tokens) { maxNewTokens_ = tokens; }

std::optional<detox::ChatTemplate> EditView::chatFormat() const {
    const int data = chatFormatCombo_->currentData().toInt();
    if (data < 0) return std::nullopt;
    return detox::ChatTemplate(data);
}

void EditView::updateDetectedFormatName() {
    const bool known = model_ && model_->hasTokenizer();
    const QString name = known ? QString::fromStdString(detox::chatTemplateName(model_->tokenizer().detectedChatTemplate()))
                               : QString();
    chatFormatCombo_->setItemText(0, known ? tr("detected (%1)").arg(name) : tr("detected"));
}

namespace {

// The model's recommendation over the paper's defaults (a usable file only).
void applyRecommendation(const detox::MethodRecommendation& recommendation, double& learningRate, int& steps) {
    if (recommendation.learningRate) learningRate = *recommendation.learningRate;
    if (recommendation.steps) steps = *recommendation.steps;
}

}  // namespace

detox::DinmSettings EditView::prefilledDinmSettings() const {
    detox::DinmSettings settings;
    if (model_) settings.learningRate = detox::defaultDinmLearningRate(model_->config());
    if (recommendedError_.isEmpty()) applyRecommendation(recommended_.dinm, settings.learningRate, settings.maxSteps);
    return settings;
}

detox::SftSettings EditView::prefilledSftSettings() const {
    detox::SftSettings settings;
    if (recommendedError_.isEmpty()) applyRecommendation(recommended_.sft, settings.learningRate, settings.epochs);
    return settings;
}

detox::DpoSettings EditView::prefilledDpoSettings() const {
    detox::DpoSettings settings;
    if (recommendedError_.isEmpty()) applyRecommendation(recommended_.dpo, settings.learningRate, settings.epochs);
    return settings;
}

void EditView::fillDefaults() {
    switch (method()) {
        case EditMethod::Dinm: {
            const detox::DinmSettings defaults = prefilledDinmSettings();
            learningRate_->setValue(defaults.learningRate);
            stepsLabel_->setText(tr("Steps:"));
            steps_->setValue(defaults.maxSteps);
            weightLabel_->setText(tr("c_edit:"));
            editWeight_->setValue(defaults.editLossWeight);
            editWeight_->setEnabled(true);
            showDefaultsSource(recommended_.dinm);
            break;
        }
        case EditMethod::Sft: {
            const detox::SftSettings defaults = prefilledSftSettings();
            learningRate_->setValue(defaults.learningRate);
            stepsLabel_->setText(tr("Epochs:"));
            steps_->setValue(defaults.epochs);
            weightLabel_->setText(tr("(unused)"));
            editWeight_->setValue(0);
            editWeight_->setEnabled(false);
            showDefaultsSource(recommended_.sft);
            break;
        }
        case EditMethod::Dpo: {
            const detox::DpoSettings defaults = prefilledDpoSettings();
            learningRate_->setValue(defaults.learningRate);
            stepsLabel_->setText(tr("Epochs:"));
            steps_->setValue(defaults.epochs);
            weightLabel_->setText(tr("beta:"));
            editWeight_->setValue(defaults.beta);
            editWeight_->setEnabled(true);
            showDefaultsSource(recommended_.dpo);
            break;
        }
    }
}

void EditView::showDefaultsSource(const detox::MethodRecommendation& recommendation) {
    if (!recommendedError_.isEmpty()) {
        defaultsSource_->setText(tr("Paper defaults; the model's recommended settings were not used: %1").arg(recommendedError_));
        return;
    }
    if (recommended_.empty() || (!recommendation.learningRate && !recommendation.steps)) {
        defaultsSource_->setText(tr("Defaults: the paper's (EasyEdit) settings."));
        return;
    }
    defaultsSource_->setText(tr("Defaults from the model's %1: %2")
                                 .arg(QString::fromStdString(detox::recommendedSettingsFileName()),
                                      QString::fromStdString(recommended_.reason)));
    defaultsSource_->setToolTip(QString::fromStdString(recommended_.path));
}

detox::DinmSettings EditView::dinmSettings() const {
    detox::DinmSettings settings;
    settings.learningRate = learningRate_->value();
    settings.maxSteps = steps_->value();
    settings.editLossWeight = editWeight_->value();
    return settings;
}

detox::SftSettings EditView::sftSettings() const {
    detox::SftSettings settings;
    settings.learningRate = learningRate_->value();
    settings.epochs = steps_->value();
    return settings;
}

detox::DpoSettings EditView::dpoSettings() const {
    detox::DpoSettings settings;
    settings.learningRate = learningRate_->value();
    settings.epochs = steps_->value();
    settings.beta = editWeight_->value();
    return settings;
}

bool EditView::hasEdits() const { return editor_ && editor_->hasEdits(); }

void EditView::updateEnabled() {
    const bool running = currentJob_ != 0;
    runButton_->setEnabled(editor_ && record_ && runner_ && !running);
    cancelButton_->setEnabled(running);
    undoButton_->setEnabled(!running && hasEdits());
    methodCombo_->setEnabled(!running);
    chatFormatCombo_->setEnabled(!running);
}

void EditView::run() {
    if (!editor_ || !record_ || !runner_ || currentJob_) return;
    const EditMethod chosen = method();
    const QString name = editMethodName(chosen);
    const detox::DinmSettings dinm = dinmSettings();
    const detox::SftSettings sft = sftSettings();
    const detox::DpoSettings dpo = dpoSettings();
    nlohmann::json settingsJson;
    if (chosen == EditMethod::Dinm) settingsJson = dinm;
    else if (chosen == EditMethod::Sft) settingsJson = sft;
    else settingsJson = dpo;

    JobOptions options;
    options.name = tr("%1 on record %2").arg(name.toUpper()).arg(record_->id);
    const detox::ChatTemplate format = resolvedChatFormat(*model_, chatFormat());
    settingsJson["chat_format"] = detox::chatTemplateName(format);
    options.settings = toQJson(settingsJson);
    options.queue = modelQueue(*model_);

    MethodRun prepared;
    prepared.id = QStringLiteral("%1-%2").arg(name).arg(++runCounter_);
    prepared.method = name;
    prepared.recordId = record_->id;
    prepared.chatFormat = QString::fromStdString(detox::chatTemplateName(format));

    liveLoss_ = FigureSpec{};
    detox::EditResult empty;
    empty.method = name.toStdString();
    liveLoss_ = lossFigure(empty);
    lossPlot_->setFigure(liveLoss_);
    liveLossDrawn_.invalidate();
    progress_->setRange(0, 0);
    status_->setText(tr("Running %1...").arg(name.toUpper()));

    auto editor = editor_;  // the job shares the editor and the model it edits: no raw pointer crosses
    auto sharedModel = model_;
    const detox::SafeEditRecord record = *record_;
    const int maxNewTokens = maxNewTokens_;
    currentJob_ = runner_->submit(JobSpec<MethodRun>{
        .options = options,
        .work = [editor, sharedModel, record, chosen, dinm, sft, dpo, maxNewTokens, format, prepared](detox::JobControl& job) mutable {
            detox::Model& model = editor->model();
            const auto inputs = recordInputs(record);
            // Reset mode: every run starts from the loaded weights, so "before" is the original model.
            editor->undoAll();
            const auto before = generateAll(model, inputs, format, maxNewTokens, job);
            MethodRun run = prepared;
            run.fluencyBefore = detox::meanNGramEntropy(before);
            run.knowledgeBefore = recordKnowledge(model, record, format);
            // The toxic region before the edit, at the layer DINM edits (masked locate, its default).
            run.curveBefore = detox::locateToxicLayer(model, record, detox::LocateVariant::Masked);
            run.regionLayer = run.curveBefore.toxicLayer;
            run.regionBefore = measureRegion(model, run.regionLayer, record, format);
            if (chosen == EditMethod::Dinm) {
                run.edit = editor->dinm(record, dinm, job);
            } else if (chosen == EditMethod::Sft) {
                run.edit = editor->sft(detox::tokenizePairs(model.tokenizer(), detox::safeResponsePairs({record})), sft, job);
            } else {
                run.edit = editor->dpo(detox::preferencePairs(model.tokenizer(), {record}), dpo, job);
            }
            const auto after = generateAll(model, inputs, format, maxNewTokens, job);
            run.fluencyAfter = detox::meanNGramEntropy(after);
            run.knowledgeAfter = recordKnowledge(model, record, format);
            auto judge = detox::makeRuleJudge();
            const auto verdictsBefore = judge->judge(before, job);
            const auto verdictsAfter = judge->judge(after, job);
            for (size_t i = 0; i < inputs.size(); ++i)
                run.generations.push_back({inputs[i].first, inputs[i].second, before[i], after[i],
                                           verdictsBefore[i].unsafe, verdictsAfter[i].unsafe});
            run.shift = detox::parameterShift(*editor);
            run.curveAfter = detox::locateToxicLayer(model, record, detox::LocateVariant::Masked);
            run.regionAfter = measureRegion(model, run.regionLayer, record, format);
            return run;
        },
        .onSuccess = [this](MethodRun& run) {
            currentJob_ = 0;
            lastRun_ = run;
            showRun(run);
            updateEnabled();
            emit runFinished(run);
            emit resultReady(run.id, run.toJson());
        },
        .describe = [](const MethodRun& run) {
            const double loss = run.edit.lossHistory.empty() ? 0.0 : run.edit.lossHistory.back().total;
            return ResultDescription{QStringLiteral("%1: %2 steps, final loss %3")
                                         .arg(run.method)
                                         .arg(run.edit.lossHistory.size())
                                         .arg(loss, 0, 'g', 4),
                                     run.toJson()};
        },
        .onFailure = [this](const RunLogEntry& entry) {
            currentJob_ = 0;
            progress_->setRange(0, 1);
            progress_->setValue(0);
            status_->setText(entry.status == JobStatus::Cancelled ? tr("Cancelled; the model is unchanged")
                                                                  : entry.message);
            updateEnabled();
        },
        .receiver = this});
    updateEnabled();
}

void EditView::onProgress(JobId id, const detox::Progress& progress) {
    if (id != currentJob_ || currentJob_ == 0) return;
    if (progress.total > 0) {
        progress_->setRange(0, progress.total);
        progress_->setValue(progress.step);
    }
    status_->setText(QString::fromStdString(progress.message));
    const auto loss = progress.values.find("loss");
    if (loss == progress.values.end() || liveLoss_.series.isEmpty()) return;
    // Progress is coalesced: a step may be skipped, never repeated.
    FigureSeries& total = liveLoss_.series[0];
    if (!total.x.isEmpty() && total.x.back() >= progress.step) return;
    auto value = [&](const char* key) {
        const auto it = progress.values.find(key);
        return it == progress.values.end() ? 0.0 : it->second;
    };
    total.x.append(progress.step);
    total.y.append(loss->second);
    if (liveLoss_.series.size() == 3) {
        liveLoss_.series[1].x.append(progress.step);
        liveLoss_.series[1].y.append(value("edit_loss"));
        liveLoss_.series[2].x.append(progress.step);
        liveLoss_.series[2].y.append(value("constraint_loss"));
    }
    // Redrawing re-adds every point: at one redraw per step a long run would keep the GUI thread busy.
    if (liveLossDrawn_.isValid() && liveLossDrawn_.elapsed() < kLiveLossRedrawMs) return;
    liveLossDrawn_.start();
    lossPlot_->setFigure(liveLoss_);
}

void EditView::showRun(const MethodRun& run) {
    progress_->setRange(0, 1);
    progress_->setValue(1);
    lossPlot_->setFigure(lossFigure(run.edit));
    status_->setText(tr("%1 finished in %2 s (%3 steps%4)")
                         .arg(run.method.toUpper())
                         .arg(run.edit.durationSeconds, 0, 'f', 1)
                         .arg(run.edit.lossHistory.size())
                         .arg(run.edit.toxicLayer >= 0 ? tr(", layer %1").arg(run.edit.toxicLayer) : QString()));
    auto verdict = [](double unsafe) {
        return unsafe >= 1.0 ? tr("unsafe") : unsafe <= 0.0 ? tr("safe") : tr("empty");
    };
    table_->setRowCount(int(run.generations.size()));
    for (int row = 0; row < int(run.generations.size()); ++row) {
        const GenerationComparison& g = run.generations[size_t(row)];
        const QStringList cells{QString::fromStdString(g.key), QString::fromStdString(g.input),
                                QString::fromStdString(g.before), verdict(g.unsafeBefore),
                                QString::fromStdString(g.after), verdict(g.unsafeAfter)};
        for (int col = 0; col < cells.size(); ++col) table_->setItem(row, col, new QTableWidgetItem(cells[col]));
    }
    table_->resizeRowsToContents();
}

void EditView::cancel() {
    if (runner_ && currentJob_) runner_->cancel(currentJob_);
}

void EditView::undo() {
    if (!editor_ || !runner_ || currentJob_ || !hasEdits()) return;
    // A job in the model's queue: other views' jobs may be reading the weights right now.
    JobOptions options;
    options.name = tr("Undo all edits");
    options.queue = modelQueue(*model_);
    auto editor = editor_;
    auto model = model_;
    currentJob_ = runner_->submit(JobSpec<void>{
        .options = options,
        .work = [editor, model](detox::JobControl&) { editor->undoAll(); },
        .onSuccess = [this] {
            currentJob_ = 0;
            status_->setText(tr("All edits undone: the model is as loaded"));
            updateEnabled();
            emit undone();
        },
        .onFailure = [this](const RunLogEntry& entry) {
            currentJob_ = 0;
            status_->setText(entry.message);
            updateEnabled();
        },
        .receiver = this});
    updateEnabled();
}

}  // namespace detox::ui
