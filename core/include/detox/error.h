// One error type for everything core reports to a user.
#pragma once
#include <stdexcept>
#include <string>

namespace detox {

// An error a user can act on: which file, which field (record, tensor, key) and what was expected.
class Error : public std::runtime_error {
public:
    Error(std::string file, std::string field, const std::string& what)
        : std::runtime_error(compose(file, field, what)), file_(std::move(file)), field_(std::move(field)) {}
    explicit Error(const std::string& what) : std::runtime_error(what) {}

    const std::string& file() const { return file_; }
    const std::string& field() const { return field_; }

private:
    static std::string compose(const std::string& file, const std::string& field, const std::string& what) {
        std::string text;
        if (!file.empty()) text += file;
        if (!field.empty()) text += (text.empty() ? "" : ": ") + field;
        return text.empty() ? what : text + ": " + what;
    }
    std::string file_;
    std::string field_;
};

// Thrown by long jobs when the user cancels; the job has already restored any state it touched.
class Cancelled : public std::runtime_error {
public:
    Cancelled() : std::runtime_error("cancelled by the user") {}
};

}  // namespace detox
