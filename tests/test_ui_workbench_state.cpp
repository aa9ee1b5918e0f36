// The workbench state (WorkbenchState): a new model brings a new edit session and clears the history;
// the selection follows the dataset; the signals the views observe fire once per change.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>

#include <memory>

#include "detox/methods/methods.h"
#include "detox/runtime/model.h"
#include "detox/safeedit/safeedit.h"
#include "detox_ui/workbench/workbench_state.h"
#include "tiny_demo_model.h"

using namespace detox;
using namespace detox::ui;

namespace {

std::shared_ptr<const SafeEditDataset> datasetWithIds(std::initializer_list<int> ids) {
    auto dataset = std::make_shared<SafeEditDataset>();
    for (int id : ids) {
        SafeEditRecord record;
        record.id = id;
        record.question = "question " + std::to_string(id);
        dataset->records.push_back(record);
    }
    return dataset;
}

}  // namespace

class TestWorkbenchState : public QObject {
    Q_OBJECT
private slots:
    void newModelBringsANewEditSession() {
        WorkbenchState state;
        QSignalSpy modelChanged(&state, &WorkbenchState::modelChanged);
        QVERIFY(!state.editor());
        QTemporaryDir scratch;
        auto model = std::make_shared<Model>(
            Model::load(detox::test::demoOrTinyModelDirectory(scratch.path()).toStdString()));
        state.setModel(model);
        QCOMPARE(modelChanged.size(), 1);
        QCOMPARE(state.model(), model);
        QVERIFY(state.editor());
        QVERIFY(!state.hasEdits());
        const auto firstEditor = state.editor();
        const quint64 firstGeneration = state.modelGeneration();

        MethodRun run;
        run.id = "dinm-1";
        QSignalSpy runAdded(&state, &WorkbenchState::runAdded);
        state.addRun(run);
        QCOMPARE(runAdded.size(), 1);
        QCOMPARE(state.runs().size(), 1);

        // The same model opened again is a new session: the old editor lives on only in its holders.
        state.setModel(model);
        QVERIFY(state.editor() != firstEditor);
        QCOMPARE(state.modelGeneration(), firstGeneration + 1);
        QVERIFY(state.runs().isEmpty());
        state.setModel(nullptr);
        QVERIFY(!state.editor());
        QVERIFY(state.modelDirectory().isEmpty());
    }

    void selectionFollowsTheDataset() {
        WorkbenchState state;
        QSignalSpy selection(&state, &WorkbenchState::selectionChanged);
        state.selectRecord(5);  // no dataset: nothing to select
        QCOMPARE(state.selectedRecordId(), -1);
        QCOMPARE(selection.size(), 0);

        state.setDataset(datasetWithIds({906, 243, 528}), "a.json");
        state.selectRecord(243);
        QCOMPARE(state.selectedRecordId(), 243);
        QCOMPARE(state.selectedRecord()->question, std::string("question 243"));
        QCOMPARE(selection.size(), 1);
        state.selectRecord(243);   // no change, no signal
        QCOMPARE(selection.size(), 1);
        state.selectRecord(7);     // not in the file: nothing selected
        QCOMPARE(state.selectedRecordId(), -1);
        QCOMPARE(selection.size(), 2);

        state.selectRecord(528);
        state.setDataset(datasetWithIds({528, 1}), "b.json");   // the id is in the new file: kept
        QCOMPARE(state.selectedRecordId(), 528);
        QCOMPARE(state.datasetPath(), QString("b.json"));
        const int signalsBefore = int(selection.size());
        state.setDataset(datasetWithIds({1, 2}), "c.json");     // not any more: cleared, and said so
        QCOMPARE(state.selectedRecordId(), -1);
        QCOMPARE(int(selection.size()), signalsBefore + 1);
    }
};

QTEST_MAIN(TestWorkbenchState)
#include "test_ui_workbench_state.moc"
