// The "Toxic layers" tab: locates the toxic layer of the selected record (both locate variants), draws the
// layer x token map, and runs activation patching (detox/analysis/patching.h) on the record: its layer curve
// next to the distance curve and its layer x position map, with the layer each criterion picks. Model work
// runs as jobs on the model's queue.
#pragma once
#include <QJsonObject>
#include <QMetaType>
#include <QString>
#include <QWidget>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "detox/analysis/locate.h"
#include "detox/analysis/patching.h"
#include "detox/runtime/inspect.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/figures/figure.h"
#include "detox_ui/jobs/job_runner.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace detox::ui {

class PlotView;

class ToxicLayersView : public QWidget {
    Q_OBJECT
public:
    explicit ToxicLayersView(QWidget* parent = nullptr);

    void setModel(std::shared_ptr<detox::Model> model);
    // Clears the curves of the previous record. The dataset the record comes from (optional) names the data
    // in the patching result's provenance.
    void setRecord(const detox::SafeEditRecord& record, const detox::SafeEditDataset* source = nullptr);
    void setJobRunner(JobRunner* runner);

    // Runs locateToxicLayer for the selected variant as a job. With overlay on, a result of the other
    // variant for the same record stays on the plot.
    void locate();
    const std::vector<detox::LocateResult>& results() const { return results_; }

    // The layer x token heatmap for the chosen measure and text, as a job (also after each Locate). Each
    // text is read whole within the model's context (the map view pages wide maps); what the context cuts
    // is said in the map's title.
    void computeMap();
    const std::optional<detox::LayerTokenMap>& layerTokenMap() const { return map_; }

    QPushButton* locateButton() const { return locateButton_; }
    // Activation patching of the record at the chosen capture point over the last K prompt positions, as a
    // job (progress over its phases, cancellable). Results are kept per capture point until the record, the
    // model or K changes; the curve plot overlays every point measured, the map shows the chosen point's.
    void patch();
    void cancelPatching();
    bool isPatching() const { return patchJob_ != 0; }
    const std::map<std::string, detox::PatchingResult>& patchingResults() const { return patching_; }
    // The layer the distance criterion picks: the latest Locate's toxic layer for the shown record.
    std::optional<int> distanceLayer() const;

    QComboBox* variantCombo() const { return variantCombo_; }   // "masked", "easyedit"
    QCheckBox* overlayCheck() const { return overlayCheck_; }
    PlotView* plotView() const { return plot_; }
    QComboBox* measureCombo() const { return measureCombo_; }   // data: int(LayerTokenMeasure)
    QComboBox* textCombo() const { return textCombo_; }         // "unsafe", "safe", "adversarial"
    PlotView* mapView() const { return mapPlot_; }
    QComboBox* patchPointCombo() const { return pointCombo_; }   // data: the capture point's name
    QSpinBox* patchPositionsSpin() const { return positionsSpin_; }
    QPushButton* patchButton() const { return patchButton_; }
    QPushButton* patchCancelButton() const { return patchCancelButton_; }
    QProgressBar* patchProgress() const { return patchProgress_; }
    QLabel* patchStatus() const { return patchStatus_; }
    PlotView* patchCurveView() const { return patchCurvePlot_; }
    PlotView* patchMapView() const { return patchMapPlot_; }

signals:
    void located(const detox::LocateResult& result);
    void mapReady(const detox::LayerTokenMap& map);
    void patched(const detox::PatchingResult& result);
    void resultReady(const QString& id, const QJsonObject& result);

private:
    void updateEnabled();
    void showResult(const detox::LocateResult& result);
    void showMap(const detox::LayerTokenMap& map, const QString& textName, const QString& coverage);
    void clearPatching(const QString& hint);
    void showPatching(const detox::PatchingResult& result);
    void redrawPatching();
    void onPatchProgress(JobId id, const detox::Progress& progress);

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

    std::optional<detox::SafeEditDataset> source_;   // path and SHA-256 only (no records): for provenance
    std::map<std::string, detox::PatchingResult> patching_;      // by capture point name
    JobId patchJob_ = 0;
    int patchRequest_ = 0;   // bumped when the shown results are cleared: older jobs' results are dropped
    QComboBox* pointCombo_ = nullptr;
    QSpinBox* positionsSpin_ = nullptr;
    QPushButton* patchButton_ = nullptr;
    QPushButton* patchCancelButton_ = nullptr;
    QProgressBar* patchProgress_ = nullptr;
    QLabel* patchStatus_ = nullptr;
    PlotView* patchCurvePlot_ = nullptr;
    PlotView* patchMapPlot_ = nullptr;
};

// The layer x token heatmap of a map (rows "L0".., columns the tokens). id "layer-token-MEASURE".
FigureSpec layerTokenFigure(const detox::LayerTokenMap& map, const QString& title);

}  // namespace detox::ui

Q_DECLARE_METATYPE(detox::LayerTokenMap)
Q_DECLARE_METATYPE(detox::PatchingResult)
