// Small helpers shared by the analysis views (private to the ui library).
#pragma once
#include <QJsonDocument>
#include <QJsonObject>
#include <QString>

#include <nlohmann/json.hpp>

#include "detox/model.h"

namespace detox::ui {

// nlohmann JSON object -> Qt JSON (through text: results are small).
inline QJsonObject toQJson(const nlohmann::json& json) {
    return QJsonDocument::fromJson(QByteArray::fromStdString(json.dump())).object();
}

// Jobs on one model run one at a time: the queue is the model's directory.
inline QString modelQueue(const detox::Model& model) {
    return QStringLiteral("model:") + QString::fromStdString(model.directory());
}

}  // namespace detox::ui
