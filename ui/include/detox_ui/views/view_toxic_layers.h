// The "Toxic layers" tab: locates the toxic layer of the selected record (both locate variants) and
// draws the layer x token map. Model work runs as jobs on the model's queue.
#pragma once
#include <QJsonObject>
#include <QMetaType>
#include <QString>
#include <QWidget>

#include <memory>
#include <optional>
#include <vector>

#include "detox/analysis/locate.h"
#include "detox/runtime/inspect.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/figures/figure.h"
#include "detox_ui/jobs/job_runner.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QPushButton;

namespace detox::ui {

class PlotView;

class ToxicLayersView : public QWidget {
    Q_OBJECT
public:
    explicit ToxicLayersView(QWidget* parent = nullptr);

    void setModel(std::shared_ptr<detox::Model> model);
    void setRecord(const detox::SafeEditRecord& record);   // clears the curves of the previous record
    void setJobRunner(JobRunner* runner);

    // Runs locateToxicLayer for the selected variant as a job. With overlay on, a result of the other
    // variant for the same record stays on the plot.
    void locate();
    const std::vector<detox::LocateResult>& results() const { return results_; }

    // The layer x token heatmap for the chosen measure and text, as a job (also after each Locate).
    void computeMap();
    const std::optional<detox::LayerTokenMap>& layerTokenMap() const { return map_; }
    static constexpr int kMaxMapTokens = 64;   // longer texts are cut: the map stays readable

    QPushButton* locateButton() const { return locateButton_; }
    QComboBox* variantCombo() const { return variantCombo_; }   // "masked", "easyedit"
    QCheckBox* overlayCheck() const { return overlayCheck_; }
    PlotView* plotView() const { return plot_; }
    QComboBox* measureCombo() const { return measureCombo_; }   // data: int(LayerTokenMeasure)
    QComboBox* textCombo() const { return textCombo_; }         // "unsafe", "safe", "adversarial"
    PlotView* mapView() const { return mapPlot_; }

signals:
    void located(const detox::LocateResult& result);
    void mapReady(const detox::LayerTokenMap& map);
    void resultReady(const QString& id, const QJsonObject& result);

private:
    void updateEnabled();
    void showResult(const detox::LocateResult& result);
    void showMap(const detox::LayerTokenMap& map, const QString& textName);

    std::shared_ptr<detox::Model> model_;
    std::optional<detox::SafeEditRecord> record_;
    JobRunner* runner_ = nullptr;
    std::vector<detox::LocateResult> results_;
    QComboBox* variantCombo_ = nullptr;
    QCheckBox* overlayCheck_ = nullptr;
    QPushButton* locateButton_ = nullptr;
    QLabel* status_ = nullptr;
    PlotView* plot_ = nullptr;
    QComboBox* measureCombo_ = nullptr;
    QComboBox* textCombo_ = nullptr;
    PlotView* mapPlot_ = nullptr;
    std::optional<detox::LayerTokenMap> map_;
    bool running_ = false;
    bool mapRunning_ = false;
    bool mapPending_ = false;   // the selection changed while a map was computed
};

// The layer x token heatmap of a map (rows "L0".., columns the tokens). id "layer-token-MEASURE".
FigureSpec layerTokenFigure(const detox::LayerTokenMap& map, const QString& title);

}  // namespace detox::ui

Q_DECLARE_METATYPE(detox::LayerTokenMap)
