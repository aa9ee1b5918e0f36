#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QTableWidget>
#include <QTextBrowser>
#include <QVBoxLayout>

#include <chrono>
#include <cmath>

#include <nlohmann/json.hpp>

#include "detox/analysis/comparison.h"
#include "detox/analysis/record_study.h"
#include "detox/methods/registry.h"
#include "detox/safeedit/evaluation.h"
#include "detox/safeedit/judge.h"
#include "detox/safeedit/metrics.h"
#include "detox_ui/figures/figures_core.h"
#include "detox_ui/figures/plot_view.h"
#include "detox_ui/views/eval_protocol_choice.h"
#include "detox_ui/views/view_edit.h"
#include "view_support.h"

namespace detox::ui {

constexpr qint64 kLiveLossRedrawMs = 100;

QString editMethodName(EditMethod method) { return QString::fromStdString(detox::methodInfo(method).name); }

QString regionInputName(RegionInput input) { return QString::fromStdString(detox::regionInputDescription(input)); }

QString collapsedText(const QString& text, int maxCharacters) {
    const QStringList lines = text.trimmed().split('\n', Qt::SkipEmptyParts);
    if (lines.size() <= 2 && text.size() <= maxCharacters) return text.trimmed();
    const int half = std::max(8, maxCharacters / 2);
    const QString first = lines.isEmpty() ? QString() : lines.front().trimmed();
    const QString last = lines.size() > 1 ? lines.back().trimmed() : QString();
    // One long paragraph: its beginning and its end.
    if (last.isEmpty()) return first.left(half) + QStringLiteral(" …\n… ") + first.right(half);
    return (first.size() > half ? first.left(half) + QStringLiteral(" …") : first) + QStringLiteral("\n… ") +
           (last.size() > half ? last.right(half) : last);
}

detox::ChatTemplate resolvedChatFormat(const detox::Model& model, std::optional<detox::ChatTemplate> chosen) {
    return chosen.value_or(model.tokenizer().detectedChatTemplate());
}

std::vector<std::vector<int>> regionInputIds(const detox::Model& model, const detox::SafeEditRecord& record,
                                             int maxTokens, std::optional<detox::ChatTemplate> chatFormat) {
    return detox::regionInputIds(model, record, maxTokens, resolvedChatFormat(model, chatFormat));
}

std::vector<detox::NeuronTokenActivations> measureRegion(const detox::Model& model, int layer,
                                                         const detox::SafeEditRecord& record,
                                                         std::optional<detox::ChatTemplate> chatFormat) {
    return detox::readRegion(model, layer, record, 0, resolvedChatFormat(model, chatFormat));  // whole, within the context
}

QJsonObject MethodRun::toJson() const {
    nlohmann::json json;
    json["id"] = id.toStdString();
    json["method"] = method.toStdString();
    json["record"] = recordId;
    json["chat_format"] = chatFormat.toStdString();
    json["eval_protocol"] = evalProtocol.toStdString();
    json["easyedit_compat"] = easyEditCompat;
    json["edit"] = edit;
    json["parameter_shift"] = shift;
    json["fluency_before"] = fluencyBefore;
    json["fluency_after"] = fluencyAfter;
    json["knowledge_before"] = knowledgeBefore ? nlohmann::json(*knowledgeBefore) : nlohmann::json();
    json["knowledge_after"] = knowledgeAfter ? nlohmann::json(*knowledgeAfter) : nlohmann::json();
    nlohmann::json rows = nlohmann::json::array();
    for (const GenerationComparison& g : generations)
        rows.push_back({{"key", g.key}, {"input", g.input}, {"asked_after", g.askedAfter}, {"before", g.before}, {"after", g.after},
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
    json["context"] = context;
    json["job_seconds"] = jobSeconds;
    return toQJson(json);
}

namespace {

// The record study as the views keep it.
MethodRun methodRun(MethodRun run, const detox::RecordStudy& study) {
    run.edit = study.edit;
    run.evalProtocol = QString::fromStdString(detox::evalProtocolName(study.protocol));
    run.easyEditCompat = detox::easyEditCompatible(study.edit);
    for (size_t i = 0; i < study.inputs.size(); ++i)
        run.generations.push_back({study.inputs[i].first, study.inputs[i].second, study.promptsAfter[i],
                                   study.before.answers[i], study.after.answers[i], study.before.unsafe[i],
                                   study.after.unsafe[i]});
    run.fluencyBefore = study.before.fluency;
    run.fluencyAfter = study.after.fluency;
    run.knowledgeBefore = study.before.knowledge;
    run.knowledgeAfter = study.after.knowledge;
    run.shift = study.shift;
    run.regionLayer = study.regionLayer;
    run.regionBefore = study.before.region;
    run.regionAfter = study.after.region;
    run.curveBefore = study.before.curve;
    run.curveAfter = study.after.curve;
    run.context = study.context;
    return run;
}

}  // namespace

namespace {
// The status line's note on inputs cut to the context (empty when none was).
QString contextNote(const std::vector<detox::ContextFit>& fits) {
    int cut = 0, inputs = 0, limit = 0;
    for (const auto& fit : fits) {
        cut += fit.cut;
        inputs += fit.inputs;
        if (fit.cut > 0) limit = std::max(limit, fit.limit);
    }
    if (cut == 0) return {};
    return QObject::tr(" -- %1 of %2 inputs longer than the model's context kept their last tokens (up to %3; keep-last)")
        .arg(cut)
        .arg(inputs)
        .arg(limit);
}
}  // namespace

EditView::EditView(QWidget* parent) : QWidget(parent) {
    qRegisterMetaType<detox::ui::MethodRun>();
    methodCombo_ = new QComboBox(this);
    for (const detox::Method& entry : detox::methodRegistry()) {
        methodCombo_->addItem(QString::fromStdString(entry.label), int(entry.id));
        methodCombo_->setItemData(methodCombo_->count() - 1, QString::fromStdString(entry.summary), Qt::ToolTipRole);
    }
    chatFormatCombo_ = new QComboBox(this);
    chatFormatCombo_->addItem(tr("detected"), -1);
    for (detox::ChatTemplate format : detox::allChatTemplates())
        chatFormatCombo_->addItem(QString::fromStdString(detox::chatTemplateName(format)), int(format));
    chatFormatCombo_->setToolTip(tr("How the before/after prompts are formatted; the evaluation uses the detected template"));
    protocolCombo_ = makeEvalProtocolCombo(this);
    protocolCombo_->setObjectName("editEvalProtocol");
    learningRate_ = new QDoubleSpinBox(this);
    learningRate_->setDecimals(8);
    learningRate_->setRange(1e-8, 1.0);
    learningRate_->setSingleStep(1e-5);
    steps_ = new QSpinBox(this);
    steps_->setRange(1, 100000);
    editWeight_ = new QDoubleSpinBox(this);
    editWeight_->setDecimals(4);
    editWeight_->setRange(0.0, 100.0);
    flag_ = new QCheckBox(this);
    connect(flag_, &QCheckBox::clicked, this, &EditView::onFlagClicked);
    learningRateLabel_ = new QLabel(this);
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
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    // Two lines a row (collapsedText's first and last line, each elided to the column): five inputs fit.
    table_->setWordWrap(false);
    table_->setTextElideMode(Qt::ElideRight);
    table_->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    table_->verticalHeader()->setDefaultSectionSize(2 * table_->fontMetrics().lineSpacing() + 10);
    table_->horizontalHeader()->setDefaultAlignment(Qt::AlignLeft | Qt::AlignVCenter);
    detail_ = new QTextBrowser(this);
    detail_->setObjectName("generationDetail");
    detail_->setPlaceholderText(tr("Select a row to read its input and both answers in full"));
    connect(table_, &QTableWidget::currentCellChanged, this, [this](int row) { showDetail(row); });

    auto* form = new QFormLayout;
    form->addRow(tr("Method:"), methodCombo_);
    form->addRow(tr("Chat format:"), chatFormatCombo_);
    form->addRow(tr("Evaluation protocol:"), protocolCombo_);
    form->addRow(learningRateLabel_, learningRate_);
    form->addRow(stepsLabel_, steps_);
    form->addRow(weightLabel_, editWeight_);
    form->addRow(flag_);
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
    // The generations are what the reader compares: the table (every input at once) and the selected
    // row's whole texts beside it; the loss plot above. The user may move both dividers.
    auto* texts = new QSplitter(Qt::Horizontal, this);
    texts->addWidget(table_);
    texts->addWidget(detail_);
    texts->setStretchFactor(0, 3);
    texts->setStretchFactor(1, 2);
    auto* panes = new QSplitter(Qt::Vertical, this);
    panes->addWidget(lossPlot_);
    panes->addWidget(texts);
    panes->setStretchFactor(0, 2);
    panes->setStretchFactor(1, 3);
    panes->setChildrenCollapsible(false);
    layout->addWidget(panes, 1);

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
    auto editor = model ? std::make_shared<detox::ModelEditor>(*model, detox::EditMode::Reset) : nullptr;
    setEditSession(std::move(model), std::move(editor));
}

void EditView::setEditSession(std::shared_ptr<detox::Model> model, std::shared_ptr<detox::ModelEditor> editor) {
    model_ = std::move(model);
    editor_ = model_ ? std::move(editor) : nullptr;
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

detox::EvalProtocol EditView::evalProtocol() const { return chosenEvalProtocol(protocolCombo_); }

void EditView::onFlagClicked(bool checked) {
    checkedFlags_[detox::methodInfo(method()).name] = checked;
    const detox::SettingField* flag = flagField();
    if (!flag || flag->key != "easyedit_compat") return;
    // As --easyedit-compat: EasyEdit's evaluation, and its raw prompt unless a format was chosen. Both
    // show in their combos, where the user may change them back.
    chooseEvalProtocol(protocolCombo_, checked ? detox::EvalProtocol::EasyEdit : detox::EvalProtocol::Plain);
    if (checked && !chatFormat()) chatFormatCombo_->setCurrentIndex(chatFormatCombo_->findData(int(detox::ChatTemplate::Plain)));
}

void EditView::updateDetectedFormatName() {
    const bool known = model_ && model_->hasTokenizer();
    const QString name = known ? QString::fromStdString(detox::chatTemplateName(model_->tokenizer().detectedChatTemplate()))
                               : QString();
    chatFormatCombo_->setItemText(0, known ? tr("detected (%1)").arg(name) : tr("detected"));
}

detox::ResolvedSettings EditView::prefilledSettings(EditMethod method) const {
    // A broken file is reported under the form; the paper's values are used meanwhile.
    return detox::resolveSettings(model_ ? model_->config() : detox::ModelConfig{},
                                  recommendedError_.isEmpty() ? recommended_ : detox::RecommendedSettings{}, method);
}

std::map<std::string, nlohmann::json> EditView::prefilledMethodSettings() const {
    std::map<std::string, nlohmann::json> settings;
    for (const detox::Method& entry : detox::methodRegistry()) {
        settings[entry.name] = prefilledSettings(entry.id).values;
        const auto checked = checkedFlags_.find(entry.name);
        for (const detox::SettingField& field : entry.form)
            if (field.flag && checked != checkedFlags_.end()) settings[entry.name][field.key] = checked->second;
    }
    return settings;
}

std::vector<std::pair<detox::SettingField, QAbstractSpinBox*>> EditView::formWidgets() const {
    // The method's settings form: whole numbers in the spin box, decimals in the two decimal boxes in order.
    std::vector<std::pair<detox::SettingField, QAbstractSpinBox*>> widgets;
    std::vector<QAbstractSpinBox*> decimals{learningRate_, editWeight_};
    std::vector<QAbstractSpinBox*> integers{steps_};
    for (const detox::SettingField& field : detox::methodInfo(method()).form) {
        if (field.flag) continue;  // the check box (flagField)
        auto& free = field.integer ? integers : decimals;
        if (free.empty()) continue;  // more fields than this form shows: they keep their defaults
        widgets.emplace_back(field, free.front());
        free.erase(free.begin());
    }
    return widgets;
}

const detox::SettingField* EditView::flagField() const {
    for (const detox::SettingField& field : detox::methodInfo(method()).form)
        if (field.flag) return &field;
    return nullptr;
}

void EditView::fillDefaults() {
    prefilled_ = prefilledSettings(method());
    const detox::SettingField* flag = flagField();
    flag_->setEnabled(flag != nullptr);
    flag_->setText(flag ? QString::fromStdString(flag->label) : tr("(unused)"));
    const auto checked = checkedFlags_.find(detox::methodInfo(method()).name);
    flag_->setChecked(flag && (checked != checkedFlags_.end() ? checked->second : prefilled_.values.at(flag->key).get<bool>()));
    flag_->setToolTip(flag && flag->key == "easyedit_compat"
                          ? tr("EasyEdit's DINM exactly: its texts and label alignment, no constraint gradient, GPT-2's "
                               "bias, the easyedit-left toxic layer (docs/easyedit-deviations.md)")
                          : QString());
    const std::pair<QAbstractSpinBox*, QLabel*> rows[] = {
        {learningRate_, learningRateLabel_}, {steps_, stepsLabel_}, {editWeight_, weightLabel_}};
    for (const auto& [widget, label] : rows) {
        label->setText(tr("(unused)"));
        widget->setEnabled(false);
    }
    editWeight_->setValue(0);
    for (const auto& [field, widget] : formWidgets()) {
        const nlohmann::json& value = prefilled_.values.at(field.key);
        for (const auto& [rowWidget, label] : rows)
            if (rowWidget == widget) label->setText(QString::fromStdString(field.label) + ":");
        widget->setEnabled(true);
        if (auto* spin = qobject_cast<QSpinBox*>(widget)) {
            spin->setRange(int(field.minimum), int(field.maximum));
            spin->setValue(value.get<int>());
        } else if (auto* box = qobject_cast<QDoubleSpinBox*>(widget)) {
            box->setDecimals(field.decimals);
            box->setRange(field.minimum, field.maximum);
            box->setValue(value.get<double>());
        }
    }
    showDefaultsSource();
}

void EditView::showDefaultsSource() {
    defaultsSource_->setToolTip(QString());
    if (!detox::methodInfo(method()).changesWeights) {
        defaultsSource_->setText(tr("A prompt-only baseline: the model is not changed, the prompt is."));
        return;
    }
    if (!recommendedError_.isEmpty()) {
        defaultsSource_->setText(tr("Paper defaults; the model's recommended settings were not used: %1").arg(recommendedError_));
        return;
    }
    if (!prefilled_.fromRecommendation()) {
        defaultsSource_->setText(tr("Defaults: the paper's (EasyEdit) settings."));
        return;
    }
    defaultsSource_->setText(tr("Defaults from the model's %1: %2")
                                 .arg(QString::fromStdString(detox::recommendedSettingsFileName()),
                                      QString::fromStdString(prefilled_.recommendationReason)));
    defaultsSource_->setToolTip(QString::fromStdString(prefilled_.recommendationFile));
}

detox::ResolvedSettings EditView::settings() const {
    // What the form changed counts as the user's; the rest keeps its source.
    nlohmann::json user = nlohmann::json::object();
    for (const auto& [field, widget] : formWidgets()) {
        nlohmann::json value;
        if (auto* spin = qobject_cast<QSpinBox*>(widget)) value = spin->value();
        else if (auto* box = qobject_cast<QDoubleSpinBox*>(widget)) value = box->value();
        if (value != prefilled_.values.at(field.key)) user[field.key] = value;
    }
    if (const detox::SettingField* flag = flagField(); flag && flag_->isChecked() != prefilled_.values.at(flag->key).get<bool>())
        user[flag->key] = flag_->isChecked();
    return detox::resolveSettings(model_ ? model_->config() : detox::ModelConfig{},
                                  recommendedError_.isEmpty() ? recommended_ : detox::RecommendedSettings{}, method(), user);
}

bool EditView::hasEdits() const { return editor_ && editor_->hasEdits(); }

void EditView::updateEnabled() {
    const bool running = currentJob_ != 0;
    runButton_->setEnabled(editor_ && record_ && runner_ && !running);
    cancelButton_->setEnabled(running);
    undoButton_->setEnabled(!running && hasEdits());
    methodCombo_->setEnabled(!running);
    chatFormatCombo_->setEnabled(!running);
    protocolCombo_->setEnabled(!running);
}

void EditView::run() {
    if (!editor_ || !record_ || !runner_ || currentJob_) return;
    const detox::ResolvedSettings settings = this->settings();
    const QString name = editMethodName(settings.method);
    nlohmann::json settingsJson = settings.values;

    JobOptions options;
    options.name = tr("%1 on record %2").arg(name.toUpper()).arg(record_->id);
    const detox::ChatTemplate format = resolvedChatFormat(*model_, chatFormat());
    settingsJson["chat_format"] = detox::chatTemplateName(format);
    const detox::EvalProtocol protocol = evalProtocol();
    settingsJson["eval_protocol"] = detox::evalProtocolName(protocol);
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
    auto model = model_;
    const detox::SafeEditRecord record = *record_;
    const int maxNewTokens = maxNewTokens_;
    currentJob_ = runner_->submit(JobSpec<MethodRun>{
        .options = options,
        .work = [editor, model, record, settings, maxNewTokens, format, protocol, prepared](detox::JobControl& job) {
            const auto started = std::chrono::steady_clock::now();
            // Reset mode: every run starts from the loaded weights, so "before" is the original model.
            editor->undoAll();
            detox::RecordStudyOptions options;
            options.chatFormat = format;
            options.maxNewTokens = maxNewTokens;
            options.protocol = protocol;
            MethodRun run = methodRun(prepared, detox::studyRecord(*editor, record, settings, options, job));
            run.jobSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
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
    // The bar covers the whole study (doneFraction over its phases), not only the method's steps.
    const double done = detox::doneFraction(progress);
    if (done >= 0) {
        progress_->setRange(0, 1000);
        progress_->setValue(int(std::lround(1000 * done)));
    }
    const QString phase = QString::fromStdString(progress.phase);
    progress_->setFormat(phase.isEmpty() ? QStringLiteral("%p%")
                                         : tr("%p% - %1 (%2 of %3)").arg(phase).arg(progress.phaseIndex).arg(progress.phaseCount));
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
    progress_->setFormat(QStringLiteral("%p%"));
    lossPlot_->setFigure(lossFigure(run.edit));
    // The job's time (what the user waited), then the edit's own share of it.
    status_->setText(tr("%1 finished in %2 s (edit %3 s, %4 steps%5); evaluation protocol %6%7")
                         .arg(run.method.toUpper())
                         .arg(run.jobSeconds, 0, 'f', 1)
                         .arg(run.edit.durationSeconds, 0, 'f', 1)
                         .arg(run.edit.lossHistory.size())
                         .arg(run.edit.toxicLayer >= 0 ? tr(", layer %1").arg(run.edit.toxicLayer) : QString())
                         .arg(run.evalProtocol, run.easyEditCompat ? tr(", EasyEdit-compatible DINM") : QString()) +
                     (run.evalProtocol == protocolCombo_->currentText()
                          ? QString()
                          : tr(" (the model was not edited: %1 applies to edited models)").arg(protocolCombo_->currentText())) +
                     contextNote(run.context));
    QStringList contextLines;
    for (const std::string& line : detox::contextWarnings(run.context)) contextLines << QString::fromStdString(line);
    status_->setToolTip(contextLines.join('\n'));
    auto verdict = [](double unsafe) {
        return unsafe >= 1.0 ? tr("unsafe") : unsafe <= 0.0 ? tr("safe") : tr("empty");
    };
    table_->setRowCount(int(run.generations.size()));
    for (int row = 0; row < int(run.generations.size()); ++row) {
        const GenerationComparison& g = run.generations[size_t(row)];
        const QStringList cells{QString::fromStdString(g.key), QString::fromStdString(g.input),
                                QString::fromStdString(g.before), verdict(g.unsafeBefore),
                                QString::fromStdString(g.after), verdict(g.unsafeAfter)};
        for (int col = 0; col < cells.size(); ++col) {
            auto* item = new QTableWidgetItem(collapsedText(cells[col]));
            item->setTextAlignment(Qt::AlignLeft | Qt::AlignTop);
            if (item->text() != cells[col]) item->setToolTip(cells[col].left(2000));
            table_->setItem(row, col, item);
        }
    }
    if (table_->rowCount() > 0) table_->setCurrentCell(0, 1);
    showDetail(table_->currentRow());
}

void EditView::showDetail(int row) {
    if (!lastRun_ || row < 0 || row >= int(lastRun_->generations.size())) {
        detail_->clear();
        return;
    }
    const GenerationComparison& g = lastRun_->generations[size_t(row)];
    auto section = [](const QString& title, const std::string& text) {
        return QStringLiteral("<h4>%1</h4><p style=\"white-space: pre-wrap\">%2</p>")
            .arg(title.toHtmlEscaped(), QString::fromStdString(text).toHtmlEscaped());
    };
    // What the model was asked after, where it differs (the easyedit protocol's suffix, a method's prompt).
    const QString asked = g.askedAfter.empty() || g.askedAfter == g.input
                              ? QString()
                              : section(tr("Asked after (protocol %1)").arg(lastRun_->evalProtocol), g.askedAfter);
    detail_->setHtml(section(tr("%1 input").arg(QString::fromStdString(g.key)), g.input) +
                     section(tr("Before"), g.before) + asked + section(tr("After"), g.after));
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
