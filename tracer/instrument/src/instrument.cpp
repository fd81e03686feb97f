// The libclang instrumenter: see instrument.hpp. Edits are computed from the AST first (insertions at byte
// offsets of the original text), then applied in one pass, then the result is parsed again.
#include "instrument/instrument.hpp"

#include <clang-c/Index.h>
#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

namespace agentlog::instrument {

namespace fs = std::filesystem;

namespace {

// libclang is loaded when the first file is instrumented, not when agentlog starts: linking it would make
// every start of the binary (an MCP server, a hook) pay for loading libclang and libLLVM (~80 ms).
#define AGENTLOG_CLANG_FUNCTIONS(X) \
  X(clang_Cursor_isNull)            \
  X(clang_Location_isFromMainFile)  \
  X(clang_createIndex)              \
  X(clang_disposeDiagnostic)        \
  X(clang_disposeIndex)             \
  X(clang_disposeString)            \
  X(clang_disposeTokens)            \
  X(clang_disposeTranslationUnit)   \
  X(clang_getCanonicalType)         \
  X(clang_getChildDiagnostics)      \
  X(clang_getClangVersion)          \
  X(clang_getCString)               \
  X(clang_getCursorExtent)          \
  X(clang_getCursorLocation)        \
  X(clang_getCursorResultType)      \
  X(clang_getCursorSemanticParent)  \
  X(clang_getCursorSpelling)        \
  X(clang_getCursorType)            \
  X(clang_getDiagnostic)            \
  X(clang_getDiagnosticLocation)    \
  X(clang_getDiagnosticSeverity)    \
  X(clang_getDiagnosticSpelling)    \
  X(clang_getDiagnosticInSet)       \
  X(clang_getExpansionLocation)     \
  X(clang_getFileLocation)          \
  X(clang_getFileName)              \
  X(clang_getNullCursor)            \
  X(clang_getNumDiagnostics)        \
  X(clang_getNumDiagnosticsInSet)   \
  X(clang_getRange)                 \
  X(clang_getRangeEnd)              \
  X(clang_getRangeStart)            \
  X(clang_getSpellingLocation)      \
  X(clang_getTemplateCursorKind)    \
  X(clang_getTokenSpelling)         \
  X(clang_getTranslationUnitCursor) \
  X(clang_getTypeSpelling)          \
  X(clang_isCursorDefinition)       \
  X(clang_isExpression)             \
  X(clang_isPODType)                \
  X(clang_isStatement)              \
  X(clang_parseTranslationUnit2)    \
  X(clang_tokenize)                 \
  X(clang_visitChildren)

struct Clang {
#define AGENTLOG_CLANG_MEMBER(f) decltype(&::f) f = nullptr;
  AGENTLOG_CLANG_FUNCTIONS(AGENTLOG_CLANG_MEMBER)
#undef AGENTLOG_CLANG_MEMBER
  std::string error;
};

const Clang& clang() {
  static const Clang api = [] {
    Clang c;
    void* lib = nullptr;
    for (const char* name : {AGENTLOG_LIBCLANG_PATH, "libclang.so", "libclang-16.so.1", "libclang-15.so.1", "libclang-14.so.1",
                             "libclang-14.so.13"})
      if ((lib = ::dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
    if (!lib) {
      c.error = std::string("cannot load libclang (") + ::dlerror() + "); install libclang-dev (make deps does)";
      return c;
    }
#define AGENTLOG_CLANG_RESOLVE(f)                                        \
  c.f = reinterpret_cast<decltype(&::f)>(::dlsym(lib, #f));             \
  if (!c.f && c.error.empty()) c.error = std::string("libclang has no ") + #f;
    AGENTLOG_CLANG_FUNCTIONS(AGENTLOG_CLANG_RESOLVE)
#undef AGENTLOG_CLANG_RESOLVE
    return c;
  }();
  if (!api.error.empty()) throw std::runtime_error(api.error);
  return api;
}

std::string take(CXString s) {
  const char* c = clang().clang_getCString(s);
  std::string out = c ? c : "";
  clang().clang_disposeString(s);
  return out;
}

struct Insertion {
  std::size_t offset;
  std::string text;
  int order;  // among insertions at one offset: lower first
  bool line_end = false;  // a `// agentlog` marker: after every other insertion at its offset
};

// An error of a parse: its message, its line in the parsed text (0: it is in a header), and the places in the
// parsed text it and its notes point at ("in instantiation of ... requested here").
struct Diag {
  std::string message;
  unsigned line = 0;
  std::vector<std::size_t> offsets;
  std::string text() const { return line ? "line " + std::to_string(line) + ": " + message : message; }
};

// "libclang 14.0.6", as the library loaded says.
std::string libclang_version() {
  const std::string full = take(clang().clang_getClangVersion());  // "Ubuntu clang version 14.0.6"
  const std::size_t at = full.find("version ");
  return "libclang" +
         (at == std::string::npos ? "" : " " + full.substr(at + 8, full.find(' ', at + 8) - at - 8));
}

// One parse of an in-memory text.
class Parse {
 public:
  Parse(const fs::path& path, const std::string& text, const std::vector<std::string>& args) : path_(path.string()) {
    index_ = clang().clang_createIndex(0, 0);
    std::vector<const char*> argv;
    for (const auto& a : args) argv.push_back(a.c_str());
    CXUnsavedFile unsaved{path_.c_str(), text.data(), static_cast<unsigned long>(text.size())};
    clang().clang_parseTranslationUnit2(index_, path_.c_str(), argv.data(), static_cast<int>(argv.size()), &unsaved, 1,
                                CXTranslationUnit_KeepGoing, &tu_);
  }
  ~Parse() {
    if (tu_) clang().clang_disposeTranslationUnit(tu_);
    clang().clang_disposeIndex(index_);
  }
  Parse(const Parse&) = delete;
  Parse& operator=(const Parse&) = delete;

  bool ok() const { return tu_ != nullptr; }
  CXTranslationUnit tu() const { return tu_; }

  // The errors, with the places in this file they and their notes point at.
  std::vector<Diag> errors() const {
    std::vector<Diag> out;
    if (!tu_) return {Diag{"the file could not be parsed"}};
    unsigned n = clang().clang_getNumDiagnostics(tu_);
    for (unsigned i = 0; i < n; ++i) {
      CXDiagnostic d = clang().clang_getDiagnostic(tu_, i);
      if (clang().clang_getDiagnosticSeverity(d) >= CXDiagnostic_Error) {
        Diag diag{take(clang().clang_getDiagnosticSpelling(d))};
        place(d, diag);
        CXDiagnosticSet notes = clang().clang_getChildDiagnostics(d);
        for (unsigned k = 0, m = clang().clang_getNumDiagnosticsInSet(notes); k < m; ++k)
          place(clang().clang_getDiagnosticInSet(notes, k), diag);
        out.push_back(std::move(diag));
      }
      clang().clang_disposeDiagnostic(d);
    }
    return out;
  }

 private:
  // Adds d's location (where a macro was expanded) to diag's places when it is in this file.
  void place(CXDiagnostic d, Diag& diag) const {
    CXFile file;
    unsigned line = 0, col = 0, off = 0;
    clang().clang_getExpansionLocation(clang().clang_getDiagnosticLocation(d), &file, &line, &col, &off);
    if (!file || take(clang().clang_getFileName(file)) != path_) return;
    if (diag.offsets.empty()) diag.line = line;
    diag.offsets.push_back(off);
  }

  std::string path_;
  CXIndex index_ = nullptr;
  CXTranslationUnit tu_ = nullptr;
};

unsigned offset_of(CXSourceLocation loc) {
  CXFile f;
  unsigned line, col, off;
  clang().clang_getSpellingLocation(loc, &f, &line, &col, &off);
  return off;
}
unsigned line_of(CXSourceLocation loc) {
  CXFile f;
  unsigned line, col, off;
  clang().clang_getSpellingLocation(loc, &f, &line, &col, &off);
  return line;
}

// Whether the cursor comes from a macro's expansion: its text is the macro's (libclang 14 then places it at
// the macro's use, and not "from the main file"), or an argument's (written elsewhere than expanded).
bool from_macro(CXCursor c) {
  const CXSourceLocation loc = clang().clang_getCursorLocation(c);
  if (!clang().clang_Location_isFromMainFile(loc)) return true;
  unsigned expanded = 0, written = 0;
  clang().clang_getExpansionLocation(loc, nullptr, nullptr, nullptr, &expanded);
  clang().clang_getFileLocation(loc, nullptr, nullptr, nullptr, &written);
  return expanded != written;
}

bool in_main_file(CXCursor c) {
  CXSourceLocation loc = clang().clang_getCursorLocation(c);
  return clang().clang_Location_isFromMainFile(loc) != 0;
}

bool is_function_kind(CXCursorKind k) {
  return k == CXCursor_FunctionDecl || k == CXCursor_CXXMethod || k == CXCursor_Constructor ||
         k == CXCursor_Destructor || k == CXCursor_ConversionFunction || k == CXCursor_FunctionTemplate;
}

std::string qualified_name(CXCursor c) {
  std::string name = take(clang().clang_getCursorSpelling(c));
  for (CXCursor p = clang().clang_getCursorSemanticParent(c); !clang().clang_Cursor_isNull(p) && p.kind != CXCursor_TranslationUnit;
       p = clang().clang_getCursorSemanticParent(p)) {
    std::string s = take(clang().clang_getCursorSpelling(p));
    if (s.empty()) break;
    name = s + "::" + name;
  }
  return name;
}

// The first child of a cursor (null if none).
CXCursor first_child(CXCursor c) {
  CXCursor child = clang().clang_getNullCursor();
  clang().clang_visitChildren(
      c,
      [](CXCursor e, CXCursor, CXClientData d) {
        *static_cast<CXCursor*>(d) = e;
        return CXChildVisit_Break;
      },
      &child);
  return child;
}

// A function's body; of a function-try-block (`int f() try { ... } catch (...) { ... }`), the try block: the
// span covers it, and ends (marked with the error) before a handler runs.
CXCursor body_of(CXCursor fn) {
  CXCursor body = clang().clang_getNullCursor();
  clang().clang_visitChildren(
      fn,
      [](CXCursor c, CXCursor, CXClientData data) {
        if (c.kind == CXCursor_CXXTryStmt) {
          CXCursor block = first_child(c);
          if (block.kind == CXCursor_CompoundStmt) *static_cast<CXCursor*>(data) = block;
          return CXChildVisit_Break;
        }
        if (c.kind == CXCursor_CompoundStmt) {
          *static_cast<CXCursor*>(data) = c;
          return CXChildVisit_Break;
        }
        return CXChildVisit_Continue;
      },
      &body);
  return body;
}

// Token spellings within [from, to) of the cursor's extent.
std::vector<std::string> tokens_between(CXTranslationUnit tu, CXSourceRange range) {
  CXToken* toks = nullptr;
  unsigned n = 0;
  clang().clang_tokenize(tu, range, &toks, &n);
  std::vector<std::string> out;
  for (unsigned i = 0; i < n; ++i) out.push_back(take(clang().clang_getTokenSpelling(tu, toks[i])));
  clang().clang_disposeTokens(tu, toks, n);
  return out;
}

std::size_t line_start_of(const std::string& text, std::size_t offset) {
  std::size_t p = text.rfind('\n', offset == 0 ? 0 : offset - 1);
  return p == std::string::npos || offset == 0 ? (offset == 0 ? 0 : (p == std::string::npos ? 0 : p + 1)) : p + 1;
}

bool only_space_between(const std::string& text, std::size_t a, std::size_t b) {
  for (std::size_t i = a; i < b && i < text.size(); ++i)
    if (text[i] != ' ' && text[i] != '\t' && text[i] != '\r') return false;  // '\r': a CRLF line end
  return true;
}

struct Walk {
  const std::string& text;
  CXTranslationUnit tu;
  const Options& options;
  std::vector<Insertion> edits;
  std::vector<FunctionEdit> functions;
  bool wrap_returns = true;
  bool capture_params = true;
  bool returns_reference = false;  // of the function being instrumented
  CXType arithmetic_result{};  // of the function being instrumented, when it is a built-in arithmetic type
  std::string pointer_result;  // C: the function's type as spelled, when it is a pointer
  bool c_language = false;         // C: AGENTLOG_RETURN is a statement expression over a __typeof__ copy
  bool c_runtime = false;          // agentlog_trace.h: a C file, or a .h that C files may include too
  int order = 0;
  std::vector<std::string> skipped;  // what is left unrecorded, for the notes
  // Left out after a first try did not compile: returns (by the offset of `return`), and the parameters of
  // functions (by the offset of the body's '{').
  const std::set<std::size_t>* keep_returns = nullptr;
  const std::set<std::size_t>* keep_params = nullptr;
  const std::set<std::size_t>* keep_wraps = nullptr;  // lambdas given to threads (by their offset)
  // What each edit is for (by its order), and the text of each wrapped return: to blame the errors on.
  struct Captures {
    std::size_t body;  // the offset of the body's '{'
    std::string name;
    int line;
  };
  std::map<int, std::size_t> return_of_edit, wrap_of_edit;
  std::map<int, Captures> params_of_edit;
  std::map<std::size_t, std::size_t> wrapped_lines;  // `return` offset -> the end of its line
  std::set<std::size_t> marked_lines;                // lines (by their end) that have their `// agentlog`

  // A name asked for (options.functions) names the function: as written, or qualified.
  static bool names(const std::string& asked, const std::string& qualified) {
    return asked == qualified || qualified.ends_with("::" + asked);
  }
  bool wanted(CXCursor fn) const {
    if (options.functions.empty()) return true;
    std::string plain = take(clang().clang_getCursorSpelling(fn)), qualified = qualified_name(fn);
    for (const auto& f : options.functions)
      if (f == plain || names(f, qualified)) return true;
    return false;
  }

  void add(std::size_t offset, std::string s) { edits.push_back({offset, std::move(s), order++}); }
  void add_marker(std::size_t offset) { edits.push_back({offset, " // agentlog", order++, true}); }

  // A statement inserted before the code at `at`, on its line (no line is added: the lines of the edited text
  // are the original's). " X; /* agentlog */" goes before the space in front of `at`, so that strip() leaves
  // the line as it was.
  void add_before(std::size_t at, const std::string& statement) {
    add(at > 0 && text[at - 1] == ' ' ? at - 1 : at, " " + statement + " /* agentlog */");
  }

  // AGENTLOG_SPAN at the top of a body. The body's '{' must be in this file's own text (not a macro). Where
  // the function's name (a macro's use that makes the function) is on an earlier line of this file, the span
  // names that line: AGENTLOG_SPAN_AT(line, ...).
  bool span_at(CXCursor fn, CXCursor body, int level, const std::vector<std::string>& params) {
    const CXSourceLocation open = clang().clang_getRangeStart(clang().clang_getCursorExtent(body));
    std::size_t brace = offset_of(open);
    if (brace >= text.size() || text[brace] != '{') return false;
    const CXSourceLocation name = clang().clang_getCursorLocation(fn);
    unsigned line = 0;
    clang().clang_getExpansionLocation(name, nullptr, &line, nullptr, nullptr);
    std::string call = "AGENTLOG_SPAN(" + std::to_string(level);
    if (clang().clang_Location_isFromMainFile(name) && line < line_of(open))
      call = "AGENTLOG_SPAN_AT(" + std::to_string(line) + ", " + std::to_string(level);
    for (const auto& p : params) call += ", " + p;
    call += ");";
    add(brace + 1, " " + call + " /* agentlog */");
    return true;
  }

  std::vector<std::string> params_of(CXCursor fn) {
    std::vector<std::string> out;
    clang().clang_visitChildren(
        fn,
        [](CXCursor c, CXCursor, CXClientData data) {
          if (c.kind == CXCursor_ParmDecl) {
            std::string n = take(clang().clang_getCursorSpelling(c));
            // A pack ("A &&..."): recorded as an array under its name.
            std::string type = take(clang().clang_getTypeSpelling(clang().clang_getCursorType(c)));
            if (!n.empty() && type.size() > 3 && type.compare(type.size() - 3, 3, "...") == 0)
              n = "AGENTLOG_PACK(" + n + ")";
            if (!n.empty()) static_cast<std::vector<std::string>*>(data)->push_back(n);
          }
          return CXChildVisit_Continue;
        },
        &out);
    return out;
  }

  // Wraps `return expr;` statements of this body (not of nested lambdas or local classes).
  bool wrap_returns_in(CXCursor body) {
    struct Ctx {
      Walk* self;
      bool wrapped = false;
    } ctx{this};
    clang().clang_visitChildren(
        body,
        [](CXCursor c, CXCursor parent, CXClientData data) {
          auto* x = static_cast<Ctx*>(data);
          if (c.kind == CXCursor_LambdaExpr || c.kind == CXCursor_ClassDecl || c.kind == CXCursor_StructDecl)
            return CXChildVisit_Continue;
          if (c.kind != CXCursor_ReturnStmt) return CXChildVisit_Recurse;
          CXCursor expr = first_child(c);
          if (clang().clang_Cursor_isNull(expr)) return CXChildVisit_Continue;  // return;
          if (clang().clang_getCursorType(expr).kind == CXType_Void) return CXChildVisit_Continue;
          // `return {a, b};`, `return {};`: a braced list has no type of its own for AGENTLOG_RETURN to take
          // (it is the function's result type that the list initialises).
          const std::string& source = x->self->text;
          const std::size_t at = offset_of(clang().clang_getRangeStart(clang().clang_getCursorExtent(c)));
          const std::size_t value_at = at < source.size() && source.compare(at, 6, "return") == 0
                                           ? source.find_first_not_of(" \t\r\n", at + 6)
                                           : std::string::npos;
          if (value_at < source.size() && source[value_at] == '{') {
            x->self->skipped.push_back("the return value at line " +
                                       std::to_string(line_of(clang().clang_getCursorLocation(c))) +
                                       " is not recorded: a braced list (`return {...};`) is left as it is");
            return CXChildVisit_Continue;
          }
          if (expr.kind == CXCursor_InitListExpr) return CXChildVisit_Continue;  // from a macro
          // The type before implicit conversions (array-to-pointer decay shows as an unexposed cast).
          CXCursor inner = expr;
          while (inner.kind == CXCursor_UnexposedExpr || inner.kind == CXCursor_ParenExpr) {
            CXCursor child = first_child(inner);
            if (clang().clang_Cursor_isNull(child)) break;
            inner = child;
          }
          const CXTypeKind type_kind = clang().clang_getCursorType(inner).kind;
          // In C the macro copies the value into a local of the expression's type: an array (a string
          // literal) would decay to a pointer into that local, which dies with the statement expression. It
          // is recorded as the pointer the function returns instead; without one, left alone.
          const bool c_array = x->self->c_language &&
                               (type_kind == CXType_ConstantArray || type_kind == CXType_IncompleteArray ||
                                type_kind == CXType_VariableArray);
          if (c_array && x->self->pointer_result.empty()) return CXChildVisit_Continue;
          const std::string& text = x->self->text;
          CXSourceRange r = clang().clang_getCursorExtent(c), er = clang().clang_getCursorExtent(expr);
          std::size_t rs = offset_of(clang().clang_getRangeStart(r)), re = offset_of(clang().clang_getRangeEnd(r));
          std::size_t es = offset_of(clang().clang_getRangeStart(er)), ee = offset_of(clang().clang_getRangeEnd(er));
          if (rs >= text.size() || text.compare(rs, 6, "return") != 0 || es >= ee || ee > text.size()) return CXChildVisit_Continue;
          std::size_t semi = text.find(';', ee);
          std::size_t eol = text.find('\n', ee);
          if (semi == std::string::npos || eol == std::string::npos || semi > eol)
            return CXChildVisit_Continue;
          // An expression over several lines gets a marker on its first line too: strip() unwraps it there
          // and finds the closing ')' on a later line.
          const std::size_t first_eol = text.find('\n', es);
          const bool several_lines = first_eol < ee;
          std::size_t first_marker = std::string::npos;
          if (several_lines) {
            first_marker = x->self->marker_place(es, first_eol);
            if (first_marker == std::string::npos || text.find("R\"", es) < ee) {
              x->self->skipped.push_back(
                  "the return value at line " + std::to_string(line_of(clang().clang_getCursorLocation(c))) +
                  " is not recorded: it spans several lines with a raw string or a line "
                  "continuation");
              return CXChildVisit_Continue;
            }
          }
          // The marker ends the line: right after the `;`, or after what follows it on the line (`}` of a
          // one-line body, another statement, a comment), before a '\r'. Not after a line continuation, nor
          // into a raw string.
          std::size_t marker_at = x->self->marker_place(semi, eol);
          if (marker_at == std::string::npos) return CXChildVisit_Continue;
          if (only_space_between(text, semi + 1, marker_at)) marker_at = semi + 1;
          (void)re;
          if (x->self->keep_returns && x->self->keep_returns->count(rs)) return CXChildVisit_Continue;
          // AGENTLOG_RETURN evaluates the expression in a lambda: leave alone what would then mean something
          // else (the function's name, its frame, memory on its stack).
          for (const auto& t : x->self->c_language
                                   ? std::vector<std::string>{}
                                   : tokens_between(x->self->tu, clang().clang_getCursorExtent(expr)))
            if (t == "__func__" || t == "__FUNCTION__" || t == "__PRETTY_FUNCTION__" ||
                t == "source_location" || t == "__builtin_FUNCTION" || t == "__builtin_return_address" ||
                t == "__builtin_frame_address" || t == "alloca" || t == "__builtin_alloca")
              return CXChildVisit_Continue;
          x->self->wrapped_lines[rs] = eol;
          // The type the value is recorded as, when the function converts it to another arithmetic type
          // (`return 'A';` in a function returning int records 65, not "A").
          const std::string as = c_array ? x->self->pointer_result : x->self->conversion_to_result(inner);
          // `return local;` keeps NRVO and the implicit move: record the value on a line of its own before it.
          std::string expr_text = text.substr(es, ee - es);
          bool plain_name = !expr_text.empty() && (std::isalpha(static_cast<unsigned char>(expr_text[0])) || expr_text[0] == '_') &&
                            std::all_of(expr_text.begin(), expr_text.end(), [](char ch) {
                              return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_';
                            });
          if (plain_name && !x->self->returns_reference && !x->self->c_language) {  // C has no NRVO to keep
            std::size_t ls = line_start_of(text, rs);
            const bool pod = clang().clang_isPODType(clang().clang_getCursorType(expr));
            // (A C cast: a .h may be compiled as C too.)
            const std::string record = "AGENTLOG_RETURN_VALUE(" +
                                       (as.empty() ? expr_text : "(" + as + ")(" + expr_text + ")") + ");";
            if (parent.kind == CXCursor_CompoundStmt && (only_space_between(text, ls, rs) || !pod)) {
              x->self->return_of_edit[x->self->order] = rs;
              x->self->add_before(rs, record);  // `{ std::string s = f(); return s; }` too
              x->wrapped = true;
              return CXChildVisit_Continue;
            }
            // A branch's statement (`if (n < 2) return n;`): wrapped, when a copy of the value is as good as
            // the value (a class value would be copied where it was moved or built in place).
            if (!pod) return CXChildVisit_Continue;
          }
          const bool marked = !x->self->marked_lines.insert(eol).second;  // by an earlier return on the line
          const bool first_marked = !several_lines || !x->self->marked_lines.insert(first_eol).second;
          for (int k = 0; k < 2 + !marked + !first_marked; ++k)
            x->self->return_of_edit[x->self->order + k] = rs;
          x->self->add(es, as.empty() ? "AGENTLOG_RETURN(" : "AGENTLOG_RETURN_AS(" + as + ", ");
          x->self->add(ee, ")");
          if (!marked) x->self->add_marker(marker_at);
          if (!first_marked) x->self->add_marker(first_marker);
          x->wrapped = true;
          return CXChildVisit_Continue;
        },
        &ctx);
    return ctx.wrapped;
  }

  static bool is_arithmetic(CXTypeKind kind) { return kind >= CXType_Bool && kind <= CXType_LongDouble; }

  // The function's arithmetic type, spelled, when the returned expression `value` (before implicit
  // conversions) has another arithmetic type, an enum or a pointer (to bool) type. Empty when the types are
  // the same or not known.
  std::string conversion_to_result(CXCursor value) const {
    if (arithmetic_result.kind == CXType_Invalid) return {};
    const CXTypeKind kind = clang().clang_getCanonicalType(clang().clang_getCursorType(value)).kind;
    if (kind == arithmetic_result.kind ||
        !(is_arithmetic(kind) || kind == CXType_Enum || kind == CXType_Pointer))
      return {};
    std::string spelled = take(clang().clang_getTypeSpelling(arithmetic_result));
    for (const char* qualifier : {"const ", "volatile "})
      if (spelled.rfind(qualifier, 0) == 0) spelled.erase(0, std::strlen(qualifier));
    return spelled;
  }

  // Where " // agentlog" goes to end the line that ends at `eol`: before a '\r'; npos when the line (from
  // `from`) continues on the next one or opens a raw string, where it would change the code.
  std::size_t marker_place(std::size_t from, std::size_t eol) const {
    std::size_t line_end = eol > 0 && text[eol - 1] == '\r' ? eol - 1 : eol;
    std::size_t last = text.find_last_not_of(" \t", line_end - 1);
    if (last == std::string::npos || last < from || text[last] == '\\' || text.find("R\"", from) < line_end)
      return std::string::npos;
    return line_end;
  }

  // Level 3: AGENTLOG_WRAP before a lambda given to std::thread or std::jthread, std::async, or emplaced into
  // a container of threads, so that it runs under the context it was made in. (Not inside nested lambdas or
  // local classes: a lambda's body is a function of its own.)
  void wrap_thread_lambdas(CXCursor body) {
    clang().clang_visitChildren(
        body,
        [](CXCursor c, CXCursor, CXClientData data) {
          auto* self = static_cast<Walk*>(data);
          if (c.kind == CXCursor_LambdaExpr || c.kind == CXCursor_ClassDecl || c.kind == CXCursor_StructDecl)
            return CXChildVisit_Continue;
          if (c.kind == CXCursor_CallExpr && starts_thread(c))
            clang().clang_visitChildren(
                c,
                [](CXCursor arg, CXCursor, CXClientData d) {
                  // Through implicit conversions, a std::function made of the lambda among them (a call
                  // that spans exactly its argument).
                  while (arg.kind == CXCursor_UnexposedExpr || arg.kind == CXCursor_ParenExpr ||
                         arg.kind == CXCursor_CallExpr) {
                    CXCursor child = first_child(arg);
                    if (clang().clang_Cursor_isNull(child)) break;
                    if (arg.kind == CXCursor_CallExpr && !same_extent(arg, child)) break;
                    arg = child;
                  }
                  if (arg.kind == CXCursor_LambdaExpr) static_cast<Walk*>(d)->wrap_lambda(arg);
                  return CXChildVisit_Continue;
                },
                self);
          return CXChildVisit_Recurse;
        },
        this);
  }

  static bool same_extent(CXCursor a, CXCursor b) {
    const CXSourceRange ra = clang().clang_getCursorExtent(a), rb = clang().clang_getCursorExtent(b);
    return offset_of(clang().clang_getRangeStart(ra)) == offset_of(clang().clang_getRangeStart(rb)) &&
           offset_of(clang().clang_getRangeEnd(ra)) == offset_of(clang().clang_getRangeEnd(rb));
  }

  static bool starts_thread(CXCursor call) {
    const std::string name = take(clang().clang_getCursorSpelling(call));
    std::string type = take(
        clang().clang_getTypeSpelling(clang().clang_getCanonicalType(clang().clang_getCursorType(call))));
    while (!type.empty() && (type.back() == '&' || type.back() == ' '))
      type.pop_back();  // emplace_back's result
    const bool thread = type == "std::thread" || type == "std::jthread";
    if (name == "thread" || name == "jthread" || name == "emplace_back" || name == "emplace") return thread;
    if (name == "async") return type.rfind("std::future<", 0) == 0;
    // What thread pools and executors call the functions that queue work (BS::thread_pool, asio, most
    // hand-written pools). A lambda that runs on the calling thread after all keeps its place in the trace.
    static const std::set<std::string> queue_work = {"submit",  "submit_task", "detach_task", "push_task",
                                                     "enqueue", "post",        "dispatch",    "defer"};
    return queue_work.count(name) > 0;
  }

  void wrap_lambda(CXCursor lambda) {
    const std::size_t at = offset_of(clang().clang_getRangeStart(clang().clang_getCursorExtent(lambda)));
    const std::size_t eol = text.find('\n', at);
    if (at >= text.size() || text[at] != '[' || eol == std::string::npos) return;  // from a macro
    if (keep_wraps && keep_wraps->count(at)) return;
    const std::size_t marker_at = marker_place(at, eol);
    if (marker_at == std::string::npos) return;
    wrap_of_edit[order] = at;
    add(at, "AGENTLOG_WRAP ");
    if (marked_lines.insert(eol).second) {
      wrap_of_edit[order] = at;
      add_marker(marker_at);
    }
  }

  // Level 4/5: AGENTLOG_VAR after declarations and AGENTLOG_LINE before statements that have lines of their own.
  void statements_in(CXCursor body, int level) {
    struct Ctx {
      Walk* self;
      int level;
    } ctx{this, level};
    clang().clang_visitChildren(
        body,
        [](CXCursor c, CXCursor parent, CXClientData data) {
          auto* x = static_cast<Ctx*>(data);
          if (c.kind == CXCursor_LambdaExpr || c.kind == CXCursor_ClassDecl || c.kind == CXCursor_StructDecl)
            return CXChildVisit_Continue;
          // A statement of a block, or the one a label names (`case 1:` then a line of its own). No event
          // goes before a label: `[[fallthrough]];` must precede it, and a jump to it would pass the event
          // by.
          const bool labelled = parent.kind == CXCursor_CaseStmt || parent.kind == CXCursor_DefaultStmt ||
                                parent.kind == CXCursor_LabelStmt;
          // (An expression there is an expression statement: a call, an assignment.)
          if ((parent.kind != CXCursor_CompoundStmt && !labelled) ||
              !(clang().clang_isStatement(c.kind) || clang().clang_isExpression(c.kind)) ||
              c.kind == CXCursor_CaseStmt || c.kind == CXCursor_DefaultStmt || c.kind == CXCursor_LabelStmt)
            return CXChildVisit_Recurse;
          // Inside a macro's expansion (the block of `do { T t_ = a; ... } while (0)`): an event there would
          // go after the macro's use, where its locals are gone.
          if (from_macro(parent)) return CXChildVisit_Continue;
          const std::string& text = x->self->text;
          CXSourceRange r = clang().clang_getCursorExtent(c);
          std::size_t s = offset_of(clang().clang_getRangeStart(r)), e = offset_of(clang().clang_getRangeEnd(r));
          if (s >= text.size() || e > text.size()) return CXChildVisit_Continue;
          std::size_t ls = line_start_of(text, s);
          if (!only_space_between(text, ls, s)) return CXChildVisit_Recurse;
          if (x->level >= 5)
            x->self->add_before(
                s, "AGENTLOG_LINE(" + std::to_string(line_of(clang().clang_getCursorLocation(c))) + ");");
          if (c.kind == CXCursor_DeclStmt && !from_macro(c)) {  // a macro's locals may not outlive it
            std::size_t semi = text.find(';', e > 0 ? e - 1 : e);
            std::size_t eol = text.find('\n', e);
            if (semi != std::string::npos && eol != std::string::npos && semi < eol && only_space_between(text, semi + 1, eol)) {
              // Variables with an initialiser only: `char buf[32];` or `int n;` would be read before they
              // hold a value.
              struct Vars {
                CXTranslationUnit tu;
                std::vector<std::string> names;
              } vars{x->self->tu, {}};
              clang().clang_visitChildren(
                  c,
                  [](CXCursor v, CXCursor, CXClientData d) {
                    if (v.kind != CXCursor_VarDecl) return CXChildVisit_Continue;
                    auto* vs = static_cast<Vars*>(d);
                    const std::string name = take(clang().clang_getCursorSpelling(v));
                    const auto tokens = tokens_between(vs->tu, clang().clang_getCursorExtent(v));
                    auto after = std::find(tokens.begin(), tokens.end(), name);
                    if (!name.empty() && after != tokens.end() &&
                        std::any_of(after, tokens.end(),
                                    [](const std::string& t) { return t == "=" || t == "(" || t == "{"; }))
                      vs->names.push_back(name);
                    return CXChildVisit_Continue;
                  },
                  &vars);
              if (vars.names.empty()) {  // a structured binding, `auto& [key, value] = *it;`: each name
                const auto tokens = tokens_between(x->self->tu, r);
                std::size_t k = 0;
                while (k < tokens.size() &&
                       (tokens[k] == "auto" || tokens[k] == "const" || tokens[k] == "&" ||
                        tokens[k] == "&&" || tokens[k] == "static" || tokens[k] == "volatile"))
                  ++k;
                if (k > 0 && k < tokens.size() && tokens[k] == "[")
                  for (++k; k < tokens.size() && tokens[k] != "]"; ++k)
                    if (tokens[k] != ",") vars.names.push_back(tokens[k]);
              }
              for (const auto& v : vars.names)
                x->self->add(semi + 1, " AGENTLOG_VAR(" + v + "); /* agentlog */");
            }
          }
          return CXChildVisit_Recurse;
        },
        &ctx);
  }

  void function(CXCursor fn, bool lambda) {
    CXCursor body = body_of(fn);
    if (clang().clang_Cursor_isNull(body)) return;  // = default, = delete, declarations
    std::size_t body_start = offset_of(clang().clang_getRangeStart(clang().clang_getCursorExtent(body)));
    // Never constexpr/consteval, coroutines or naked functions.
    CXSourceRange head = clang().clang_getRange(clang().clang_getRangeStart(clang().clang_getCursorExtent(fn)), clang().clang_getRangeStart(clang().clang_getCursorExtent(body)));
    const std::vector<std::string> head_tokens = tokens_between(tu, head);
    bool decltype_auto = false;  // `decltype(auto)`: a wrapped `return s.m;` would return a reference
    for (std::size_t i = 0; i < head_tokens.size(); ++i) {
      const std::string& t = head_tokens[i];
      if (t == "constexpr" || t == "consteval" || t == "naked") return;
      if (t == "decltype" && i + 2 < head_tokens.size() && head_tokens[i + 2] == "auto") decltype_auto = true;
    }
    for (const auto& t : tokens_between(tu, clang().clang_getCursorExtent(body)))
      if (t == "co_await" || t == "co_yield" || t == "co_return") return;
    if (body_start >= text.size() || text[body_start] != '{') return;  // from a macro expansion
    int level = options.level;  // lambdas are traced from level 3 (see run())
    std::vector<std::string> params =
        level >= 2 && capture_params && !(keep_params && keep_params->count(body_start))
            ? params_of(fn)
            : std::vector<std::string>{};
    // A constructor's span starts after its member initialisers: a parameter they move from would be recorded
    // empty (`: name_(std::move(name))`). Such parameters are left out.
    const CXCursorKind kind =
        fn.kind == CXCursor_FunctionTemplate ? clang().clang_getTemplateCursorKind(fn) : fn.kind;
    for (std::size_t i = 0; kind == CXCursor_Constructor && i < head_tokens.size(); ++i) {
      if (head_tokens[i] != "move" && head_tokens[i] != "forward") continue;
      std::size_t open = i + 1;
      while (open < head_tokens.size() && head_tokens[open] != "(") ++open;
      if (open + 1 >= head_tokens.size()) continue;
      const std::string& moved = head_tokens[open + 1];  // `std::forward<A>(args)...`: the pack too
      params.erase(std::remove_if(params.begin(), params.end(),
                                  [&](const std::string& p) {
                                    return p == moved || p == "AGENTLOG_PACK(" + moved + ")";
                                  }),
                   params.end());
    }
    const std::size_t max_c_params = 16;  // agentlog_trace.h's AGENTLOG_SPAN in C
    if (c_runtime && params.size() > max_c_params) {
      const std::string max = std::to_string(max_c_params);
      skipped.push_back("the parameters of " + qualified_name(fn) + " after the " + max +
                        "th are not recorded (" + std::to_string(params.size()) +
                        "; agentlog_trace.h records up to " + max + " in C)");
      params.resize(max_c_params);
    }
    const int span_edit = order;
    if (!span_at(fn, body, level, params)) return;
    FunctionEdit f{lambda ? "<lambda>" : qualified_name(fn), static_cast<int>(line_of(clang().clang_getCursorLocation(fn))), level, false};
    if (!params.empty()) params_of_edit[span_edit] = {body_start, f.name, f.line};
    bool structor = kind == CXCursor_Constructor || kind == CXCursor_Destructor;
    returns_reference = false;  // a lambda's result type is deduced: treat it as by value
    arithmetic_result = CXType{};
    pointer_result.clear();
    if (!lambda) {
      CXType result = clang().clang_getCursorResultType(fn);
      returns_reference = result.kind == CXType_LValueReference || result.kind == CXType_RValueReference;
      CXType canonical = clang().clang_getCanonicalType(result);
      if (is_arithmetic(canonical.kind)) arithmetic_result = canonical;
      if (c_language && canonical.kind == CXType_Pointer)
        pointer_result = take(clang().clang_getTypeSpelling(result));
    }
    // Statement events first: at the start of a `return local;` line, AGENTLOG_LINE goes before
    // AGENTLOG_RETURN_VALUE (a span takes no events after its return value).
    if (level >= 4) statements_in(body, level);
    if (level >= 2 && wrap_returns && !structor && !decltype_auto) f.returns_wrapped = wrap_returns_in(body);
    if (level >= 3 && !c_language) wrap_thread_lambdas(body);
    functions.push_back(f);
  }

  void run() {
    clang().clang_visitChildren(
        clang().clang_getTranslationUnitCursor(tu),
        [](CXCursor c, CXCursor, CXClientData data) {
          auto* self = static_cast<Walk*>(data);
          if (!in_main_file(c)) return CXChildVisit_Continue;  // headers it includes
          if (is_function_kind(c.kind)) {
            if (clang().clang_isCursorDefinition(c) && self->wanted(c)) self->function(c, false);
            if (self->options.level < 3) return CXChildVisit_Continue;
            return CXChildVisit_Recurse;  // lambdas inside
          }
          if (c.kind == CXCursor_LambdaExpr && self->options.level >= 3 && self->options.functions.empty()) {
            self->function(c, true);
            return CXChildVisit_Recurse;
          }
          return CXChildVisit_Recurse;
        },
        this);
  }
};

// Where an inserted text went: its place in the edited text, its length, its place in the original text and
// its edit's order (-1: the include line).
struct Placed {
  std::size_t at, length, original;
  int order;
};

// The include of the runtime takes the place of an empty line, so that every line of the edited text keeps
// its number: spans, AGENTLOG_LINE, compiler messages and debuggers then name the original file's lines,
// before and after strip(). strip() puts the empty line back.
const std::string kOnBlankLine = " // agentlog: was an empty line";

bool identifier_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// The end of the line that starts a comment at `i` ("//"): a backslash before the line end continues it.
std::size_t line_comment_end(const std::string& text, std::size_t i) {
  for (; i < text.size() && text[i] != '\n'; ++i)
    if (text[i] == '\\' && text.compare(i + 1, 1, "\n") == 0)
      ++i;
    else if (text[i] == '\\' && text.compare(i + 1, 2, "\r\n") == 0)
      i += 2;
  return i;
}

// Which bytes of `text` are code: not in a comment, a string or character literal, or a raw string (nor their
// delimiters). strip() takes out only what it finds in code, so that the markers in a code generator's string
// literal or in a comment's example stay as they are.
std::vector<bool> code_bytes(const std::string& text) {
  const std::size_t n = text.size();
  std::vector<bool> code(n, true);
  auto mark = [&](std::size_t from, std::size_t to) {
    std::fill(code.begin() + static_cast<std::ptrdiff_t>(from),
              code.begin() + static_cast<std::ptrdiff_t>(std::min(to, n)), false);
  };
  for (std::size_t i = 0; i < n;) {
    const char c = text[i];
    if (c == '/' && i + 1 < n && text[i + 1] == '/') {
      const std::size_t end = line_comment_end(text, i);
      mark(i, end);
      i = end;
    } else if (c == '/' && i + 1 < n && text[i + 1] == '*') {
      const std::size_t close = text.find("*/", i + 2);
      const std::size_t end = close == std::string::npos ? n : close + 2;
      mark(i, end);
      i = end;
    } else if (c == '"' || c == '\'') {
      // The token the quote ends: a raw string's prefix (R, u8R, LR ...), or a number (1'000: a separator).
      std::size_t t = i;
      while (t > 0 &&
             (identifier_char(text[t - 1]) || (c == '\'' && (text[t - 1] == '\'' || text[t - 1] == '.'))))
        --t;
      const std::string prefix = text.substr(t, i - t);
      if (c == '\'' && t < i && (std::isdigit(static_cast<unsigned char>(text[t])) || text[t] == '.')) {
        ++i;
        continue;
      }
      if (c == '"' &&
          (prefix == "R" || prefix == "u8R" || prefix == "uR" || prefix == "UR" || prefix == "LR")) {
        const std::size_t open = text.find('(', i);
        const std::string delimiter =
            open == std::string::npos ? "" : ")" + text.substr(i + 1, open - i - 1) + "\"";
        const std::size_t close = open == std::string::npos ? std::string::npos : text.find(delimiter, open);
        const std::size_t end = close == std::string::npos ? n : close + delimiter.size();
        mark(i, end);
        i = end;
        continue;
      }
      std::size_t j = i + 1;
      for (; j < n && text[j] != c && text[j] != '\n'; ++j)
        if (text[j] == '\\') ++j;
      const std::size_t end = std::min(j + 1, n);
      mark(i, end);
      i = end;
    } else {
      ++i;
    }
  }
  return code;
}

// The empty line the include can take: at file scope (outside every declaration, comment and line
// continuation), in a preprocessor branch that encloses the first edit, after a `#pragma once`, before the
// first edit. npos: there is none.
std::size_t blank_line_for_include(const std::string& text, CXTranslationUnit tu, std::size_t first_edit) {
  // Top-level declarations of the file, by their expansion in it (a macro that opens a namespace too).
  struct Extents {
    std::vector<std::pair<std::size_t, std::size_t>> ranges;
  } extents;
  clang().clang_visitChildren(
      clang().clang_getTranslationUnitCursor(tu),
      [](CXCursor c, CXCursor, CXClientData data) {
        CXSourceRange r = clang().clang_getCursorExtent(c);
        CXFile fs, fe;
        unsigned line, col, start, end;
        clang().clang_getExpansionLocation(clang().clang_getRangeStart(r), &fs, &line, &col, &start);
        clang().clang_getExpansionLocation(clang().clang_getRangeEnd(r), &fe, &line, &col, &end);
        if (in_main_file(c)) static_cast<Extents*>(data)->ranges.emplace_back(start, end);
        return CXChildVisit_Continue;
      },
      &extents);
  // The preprocessor branch of a place: one number per open #if, renumbered at each #elif/#else.
  std::vector<int> branch;
  int branches = 0;
  struct Candidate {
    std::size_t at;
    std::vector<int> branch;
  };
  std::vector<Candidate> candidates;
  // A line starting in a block comment or a raw string takes no include, and a `#` there is text.
  const std::vector<bool> code = code_bytes(text);
  bool continued = false;
  for (std::size_t at = 0; at < text.size() && at <= first_edit;) {
    std::size_t eol = text.find('\n', at);
    if (eol == std::string::npos) eol = text.size();
    const bool empty = eol == at || (eol == at + 1 && text[at] == '\r');
    if (empty && code[at] && !continued) candidates.push_back({at, branch});
    std::size_t i = at;
    while (i < eol && (text[i] == ' ' || text[i] == '\t')) ++i;
    if (!continued && i < eol && text[i] == '#' && code[i]) {
      std::size_t d = i + 1;
      while (d < eol && (text[d] == ' ' || text[d] == '\t')) ++d;
      std::size_t de = d;
      while (de < eol && std::isalpha(static_cast<unsigned char>(text[de]))) ++de;
      const std::string directive = text.substr(d, de - d);
      if (directive == "if" || directive == "ifdef" || directive == "ifndef")
        branch.push_back(++branches);
      else if ((directive == "elif" || directive == "else" || directive == "elifdef" ||
                directive == "elifndef") &&
               !branch.empty())
        branch.back() = ++branches;
      else if (directive == "endif" && !branch.empty())
        branch.pop_back();
      else if (directive == "pragma" && text.substr(de, eol - de).find("once") != std::string::npos)
        candidates.clear();  // the include goes after it
    }
    std::size_t last = eol;
    if (last > at && text[last - 1] == '\r') --last;
    continued = last > at && text[last - 1] == '\\';
    at = eol + 1;
  }
  // The branch of the first edit is the one the loop ended in.
  for (const auto& c : candidates) {
    if (c.at >= first_edit || c.branch.size() > branch.size() ||
        !std::equal(c.branch.begin(), c.branch.end(), branch.begin()))
      continue;
    if (std::none_of(extents.ranges.begin(), extents.ranges.end(),
                     [&](const auto& r) { return r.first < c.at && c.at < r.second; }))
      return c.at;
  }
  return std::string::npos;
}

// The edited text: the insertions and the include line. `include_at` is an empty line the include takes,
// else npos: the include goes first (after a leading `#pragma once`), and a `#line` after it gives the
// following lines their original numbers.
std::string apply(const std::string& text, std::vector<Insertion> edits, const std::string& header,
                  std::size_t include_at, std::vector<Placed>& placed) {
  std::string include_line = "#include \"" + header + "\"";
  if (include_at != std::string::npos) {
    include_line += kOnBlankLine;
  } else {
    include_at = 0;
    if (text.rfind("#pragma once", 0) == 0)
      include_at = text.find('\n') == std::string::npos ? text.size() : text.find('\n') + 1;
    include_line +=
        " // agentlog\n#line " +
        std::to_string(
            1 + std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(include_at), '\n')) +
        " // agentlog\n";
    // A file with CRLF line ends gets inserted lines with CRLF too.
    const std::size_t first_newline = text.find('\n');
    if (first_newline != std::string::npos && first_newline > 0 && text[first_newline - 1] == '\r')
      for (std::size_t at = 0; (at = include_line.find('\n', at)) != std::string::npos; at += 2)
        include_line.insert(at, 1, '\r');
  }
  edits.push_back({include_at, include_line, -1});
  std::stable_sort(edits.begin(), edits.end(), [](const Insertion& a, const Insertion& b) {
    return a.offset != b.offset       ? a.offset < b.offset
           : a.line_end != b.line_end ? b.line_end
                                      : a.order < b.order;
  });
  std::string out;
  out.reserve(text.size() + edits.size() * 40);
  std::size_t pos = 0;
  for (const auto& e : edits) {
    out.append(text, pos, e.offset - pos);
    pos = e.offset;
    placed.push_back({out.size(), e.text.size(), pos, e.order});
    out += e.text;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

// The errors of `after` that `before` has not (compared by message: their lines moved).
std::vector<Diag> new_errors(const std::vector<Diag>& before, const std::vector<Diag>& after) {
  std::map<std::string, int> seen;
  for (const auto& b : before) ++seen[b.message];
  std::vector<Diag> out;
  for (const auto& a : after) {
    if (seen[a.message] > 0)
      --seen[a.message];
    else
      out.push_back(a);
  }
  return out;
}

std::size_t line_at(const std::string& text, std::size_t offset) {
  return 1 + static_cast<std::size_t>(
                 std::count(text.begin(), text.begin() + std::min(offset, text.size()), '\n'));
}

// What the tries so far left out, and why (notes for the user).
struct Blame {
  std::set<std::size_t> returns, params, wraps;  // see Walk::keep_returns, keep_params, keep_wraps
  std::vector<std::string> returns_why, params_why, wraps_why;
};

// Leaves out, for the next try, the return or the parameters each new error comes from: the edit one of its
// places (its own or a note's) is in, else the wrapped return line one of them is on. False when an error
// comes from neither, or nothing new was left out (nothing then to leave out but all returns, or all
// parameters).
bool blame(const std::vector<Diag>& errors, const Walk& walk, const std::vector<Placed>& placed,
           const std::string& text, Blame& out) {
  const std::size_t known = out.returns.size() + out.params.size() + out.wraps.size();
  auto keep_return = [&](std::size_t at, const Diag& e) {
    if (out.returns.insert(at).second)
      out.returns_why.push_back("the return value at line " + std::to_string(line_at(text, at)) +
                                " is not recorded (wrapping it did not compile: " + e.message + ")");
  };
  for (const auto& e : errors) {
    // Its places in edits (by the edit's order) and in the original text. An error in a template the edit
    // instantiates (a capture calling the program's operator<<) is in that template, with a note at the span.
    std::vector<int> edits;
    std::vector<std::size_t> originals;
    for (std::size_t offset : e.offsets) {
      auto next = std::upper_bound(placed.begin(), placed.end(), offset,
                                   [](std::size_t off, const Placed& p) { return off < p.at; });
      const Placed* p = next == placed.begin() ? nullptr : &*std::prev(next);
      if (p && offset < p->at + p->length)
        edits.push_back(p->order);
      else
        originals.push_back(p ? p->original + (offset - p->at - p->length) : offset);
    }
    // First a span's parameters, then the innermost wrapped return, then the wrapped line an error is on.
    bool done = false;
    for (int order : edits) {
      auto c = walk.params_of_edit.find(order);
      if (c == walk.params_of_edit.end()) continue;
      if (out.params.insert(c->second.body).second)
        out.params_why.push_back("the parameters of " + c->second.name + " (line " +
                                 std::to_string(c->second.line) +
                                 ") are not captured (capturing them did not compile: " + e.message + ")");
      done = true;
      break;
    }
    for (std::size_t i = 0; !done && i < edits.size(); ++i) {
      if (auto r = walk.return_of_edit.find(edits[i]); r != walk.return_of_edit.end()) {
        keep_return(r->second, e);
        done = true;
      } else if (auto w = walk.wrap_of_edit.find(edits[i]); w != walk.wrap_of_edit.end()) {
        if (out.wraps.insert(w->second).second)
          out.wraps_why.push_back(
              "the lambda at line " + std::to_string(line_at(text, w->second)) +
              " runs without its creator's trace context (wrapping it did not compile: " + e.message + ")");
        done = true;
      }
    }
    for (std::size_t i = 0; !done && i < originals.size(); ++i) {
      auto w = walk.wrapped_lines.upper_bound(originals[i]);
      if (w == walk.wrapped_lines.begin() || originals[i] > std::prev(w)->second) continue;
      keep_return(std::prev(w)->first, e);
      done = true;
    }
    if (!done) return false;
  }
  return out.returns.size() + out.params.size() + out.wraps.size() > known;
}

const std::string kMarker = " // agentlog";
const std::string kStatementMarker = " /* agentlog */";

bool ends_with(const std::string& text, std::size_t from, std::size_t to, const std::string& suffix) {
  return to - from >= suffix.size() && text.compare(to - suffix.size(), suffix.size(), suffix) == 0;
}

// Whether text[from, to) (a line, without its line end) is the runtime's include line as apply() writes it
// (`#include "…/agentlog_trace.hpp" // agentlog`), ending with `ending`.
bool is_include_line(const std::string& text, std::size_t from, std::size_t to, const std::string& ending) {
  const std::string open = "#include \"";
  if (!ends_with(text, from, to, ending) || text.compare(from, open.size(), open) != 0) return false;
  const std::size_t path_end = to - ending.size();  // at the closing quote
  if (path_end <= from + open.size() || text[path_end - 1] != '"') return false;
  const std::string path = text.substr(from + open.size(), path_end - 1 - from - open.size());
  return path.find('"') == std::string::npos &&
         (path.ends_with("agentlog_trace.hpp") || path.ends_with("agentlog_trace.h"));
}

// `#line N // agentlog`, the line apply() writes after an include that went first.
bool is_line_directive(const std::string& text, std::size_t from, std::size_t to) {
  const std::string open = "#line ";
  if (!ends_with(text, from, to, kMarker) || text.compare(from, open.size(), open) != 0) return false;
  const std::size_t digits = from + open.size(), digits_end = to - kMarker.size();
  return digits < digits_end &&
         std::all_of(text.begin() + static_cast<std::ptrdiff_t>(digits),
                     text.begin() + static_cast<std::ptrdiff_t>(digits_end),
                     [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); });
}

// The lines of a text: [start, end) without the line end ('\r' of a CRLF file included in `cr`).
template <class F>
void for_each_line(const std::string& text, F visit) {
  for (std::size_t pos = 0; pos < text.size();) {
    const std::size_t eol = text.find('\n', pos);
    std::size_t end = eol == std::string::npos ? text.size() : eol;
    const bool cr = end > pos && text[end - 1] == '\r';
    visit(pos, end - cr, cr, eol != std::string::npos);
    pos = eol == std::string::npos ? text.size() : eol + 1;
  }
}

}  // namespace

// The runtime's include line, which every instrumented file holds, in code (not in a comment or a string: a
// test's expected text, a code generator's output).
bool is_instrumented(const std::string& text) {
  if (text.find("agentlog_trace.h") == std::string::npos) return false;
  std::vector<bool> code;
  bool found = false;
  for_each_line(text, [&](std::size_t from, std::size_t to, bool, bool) {
    if (found ||
        (!is_include_line(text, from, to, kMarker) && !is_include_line(text, from, to, kOnBlankLine)))
      return;
    if (code.empty()) code = code_bytes(text);
    found = code[from];
  });
  return found;
}

namespace {
// The start of the statement apply() inserted before ` /* agentlog */` at `marker` (` AGENTLOG_X(...);`, in
// code), else npos.
std::size_t inserted_statement(const std::string& text, const std::vector<bool>& code, std::size_t line_start,
                               std::size_t marker) {
  if (marker < line_start + 3 || text[marker - 1] != ';' || text[marker - 2] != ')' || !code[marker - 2])
    return std::string::npos;
  int depth = 0;
  std::size_t i = marker - 2;
  for (;; --i) {  // back to the '(' that the ')' closes
    if (code[i] && text[i] == ')') ++depth;
    if (code[i] && text[i] == '(' && --depth == 0) break;
    if (i == line_start) return std::string::npos;
  }
  std::size_t name = i;
  while (name > line_start &&
         (std::isupper(static_cast<unsigned char>(text[name - 1])) || text[name - 1] == '_'))
    --name;
  if (name == line_start || text[name - 1] != ' ' || !code[name - 1] ||
      text.compare(name, 9, "AGENTLOG_") != 0)
    return std::string::npos;
  return name - 1;
}
}  // namespace

std::string strip(const std::string& text) {
  if (text.find("agentlog") == std::string::npos) return text;
  const std::vector<bool> code = code_bytes(text);
  std::string out;
  out.reserve(text.size());
  // The parentheses open in code since the first wrapped return value still open, innermost last: true for
  // the '(' of an AGENTLOG_RETURN, whose ')' goes. A value may span lines, and hold a lambda whose own return
  // value is wrapped over lines too.
  std::vector<bool> wraps;
  for_each_line(text, [&](std::size_t from, std::size_t to, bool cr, bool has_newline) {
    const std::string line_end = std::string(cr ? "\r" : "") + (has_newline ? "\n" : "");
    if (from < to && code[from]) {
      if (is_include_line(text, from, to, kOnBlankLine)) {  // the include, in place of an empty line
        out += line_end;
        return;
      }
      if (is_include_line(text, from, to, kMarker) || is_line_directive(text, from, to))
        return;  // an inserted line: dropped with its line end
    }
    // What to take out of the line: [start, end) ranges of the text.
    std::vector<std::pair<std::size_t, std::size_t>> cuts;
    // Inline statements: " AGENTLOG_SPAN(...); /* agentlog */", the comment opening in code.
    for (std::size_t m = from; (m = text.find(kStatementMarker, m)) != std::string::npos && m < to;
         m += kStatementMarker.size()) {
      if (!code[m]) continue;
      const std::size_t start = inserted_statement(text, code, from, m);
      if (start != std::string::npos) cuts.emplace_back(start, m + kStatementMarker.size());
    }
    // Wrapped returns and lambdas, where the marker ends the line: each AGENTLOG_RETURN(expr) and
    // AGENTLOG_RETURN_AS(type, expr) in code becomes expr, each AGENTLOG_WRAP and the marker go. The marker
    // may follow a comment of the line (`return x;  // why` got ` // agentlog` after it).
    const bool marked = ends_with(text, from, to, kMarker);
    bool unwrapped = false;
    for (std::size_t i = from; i < to; ++i) {
      if (!code[i]) continue;
      const bool word_start = i == from || !identifier_char(text[i - 1]);
      if (marked && word_start && text.compare(i, 14, "AGENTLOG_WRAP ") == 0) {
        cuts.emplace_back(i, i + 14);
        unwrapped = true;
        i += 13;
        continue;
      }
      const bool as = text.compare(i, 19, "AGENTLOG_RETURN_AS(") == 0;
      if (marked && word_start && (as || text.compare(i, 16, "AGENTLOG_RETURN(") == 0)) {
        const std::size_t paren = i + (as ? 18 : 15);
        // After the type, which has no comma.
        const std::size_t expr = as ? text.find(", ", paren) + 2 : paren + 1;
        if (as && (expr < paren || expr > to)) continue;
        cuts.emplace_back(i, expr);
        wraps.push_back(true);
        unwrapped = true;
        i = expr - 1;
        continue;
      }
      if (wraps.empty()) continue;
      if (text[i] == '(') wraps.push_back(false);
      if (text[i] == ')') {
        if (wraps.back()) {
          cuts.emplace_back(i, i + 1);
          unwrapped = true;
        }
        wraps.pop_back();
      }
    }
    if (unwrapped && marked) cuts.emplace_back(to - kMarker.size(), to);
    std::sort(cuts.begin(), cuts.end());
    std::size_t pos = from;
    for (const auto& [start, end] : cuts) {
      if (start < pos) continue;  // inside a cut already
      out.append(text, pos, start - pos);
      pos = end;
    }
    out.append(text, pos, to - pos);
    out += line_end;
  });
  return out;
}

namespace {

// A "command" of compile_commands.json split into its words as a POSIX shell does: CMake writes
// `-DVERSION=\"1.0\"` and `-DNAME="a b"` for the shell to unquote, and libclang must get what the compiler
// got.
std::vector<std::string> shell_words(const std::string& command) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < command.size(); ++i) {
    const char c = command[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) words.push_back(std::move(word)), word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\\') {  // the next character as it is
      if (++i < command.size()) word += command[i];
    } else if (c == '\'') {  // all as it is, to the next '
      const std::size_t close = command.find('\'', i + 1);
      word.append(command, i + 1, (close == std::string::npos ? command.size() : close) - i - 1);
      i = close == std::string::npos ? command.size() : close;
    } else if (c == '"') {  // a backslash escapes only " \ $ `
      for (++i; i < command.size() && command[i] != '"'; ++i) {
        if (command[i] == '\\' && i + 1 < command.size() && std::strchr("\"\\$`", command[i + 1])) ++i;
        word += command[i];
      }
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

// An entry's flags without the compiler, its file, -c and -o; relative -I made absolute.
std::vector<std::string> entry_flags(const nlohmann::json& entry, const fs::path& file) {
  std::vector<std::string> args;
  if (entry.contains("arguments")) {  // already the compiler's words
    for (const auto& a : entry["arguments"]) args.push_back(a.get<std::string>());
  } else {
    args = shell_words(entry.value("command", ""));
  }
  std::vector<std::string> out;
  const std::string dir_of_entry = entry.value("directory", "");
  for (std::size_t i = 1; i < args.size(); ++i) {  // drop the compiler
    const std::string& a = args[i];
    if (a == "-o" || a == "-c") {
      if (a == "-o") ++i;
      continue;
    }
    if (fs::path(a) == file || a == entry.value("file", "")) continue;
    if (a.rfind("-I", 0) == 0 && a.size() > 2 && a[2] != '/') {
      out.push_back("-I" + (fs::path(dir_of_entry) / a.substr(2)).string());
      continue;
    }
    out.push_back(a);
  }
  return out;
}

}  // namespace

std::vector<std::string> compile_args_for(const fs::path& path, const fs::path& project_root, std::string& note) {
  std::error_code ec;
  fs::path abs = fs::weakly_canonical(path, ec);
  const bool c_file = abs.extension() == ".c";
  // A file with no entry of its own (a header): the flags of the entry nearest to it in the same language
  // (C++ for a .h when the project has C++), so that it is parsed with the project's standard and includes.
  struct Borrowed {
    std::vector<std::string> flags;
    std::string from;
    int score = -1;
  } borrowed;
  for (fs::path dir = abs.parent_path();; dir = dir.parent_path()) {
    std::vector<fs::path> candidates = {dir / "compile_commands.json"};
    for (const auto& e : fs::directory_iterator(dir, ec))
      if (e.is_directory() && e.path().filename().string().rfind("build", 0) == 0)
        candidates.push_back(e.path() / "compile_commands.json");
    for (const auto& c : candidates) {
      if (!fs::exists(c)) continue;
      std::ifstream in(c);
      auto db = nlohmann::json::parse(in, nullptr, false);
      if (!db.is_array()) continue;
      for (const auto& entry : db) {
        fs::path file = entry.value("file", "");
        if (file.is_relative()) file = fs::path(entry.value("directory", "")) / file;
        const fs::path canonical = fs::weakly_canonical(file, ec);
        if (canonical == abs) {
          note = "flags from " + c.string();
          return entry_flags(entry, file);
        }
        const bool entry_c = canonical.extension() == ".c";
        const auto common = std::mismatch(abs.begin(), abs.end(), canonical.begin(), canonical.end()).first;
        const int score =
            (entry_c == c_file ? 10000 : 0) + static_cast<int>(std::distance(abs.begin(), common));
        if (score > borrowed.score)
          borrowed = {entry_flags(entry, file), canonical.string() + " in " + c.string(), score};
      }
    }
    if (dir == project_root || dir == dir.parent_path()) break;
  }
  if (borrowed.score >= 10000 || (borrowed.score >= 0 && abs.extension() == ".h")) {
    const bool as_c = c_file || borrowed.score < 10000;  // a .h of a project with C entries only
    std::vector<std::string> args = {as_c ? "-xc" : "-xc++"};
    args.insert(args.end(), borrowed.flags.begin(), borrowed.flags.end());
    args.push_back("-I" + abs.parent_path().string());
    args.push_back("-Wno-pragma-once-outside-header");  // a header parsed as the main file
    note = "no compile_commands.json entry for this file: parsed with the flags of " + borrowed.from;
    return args;
  }
  note = std::string("no compile_commands.json entry for this file: parsed with guessed flags (") +
         (c_file ? "-std=gnu11" : "-std=c++17") + ", -I for the file's folder and the project root)";
  return {c_file ? "-xc" : "-xc++", c_file ? "-std=gnu11" : "-std=c++17", "-I" + abs.parent_path().string(),
          "-I" + project_root.string(), "-I" + (project_root / "include").string()};
}

Result instrument(const fs::path& path, const std::string& text, const Options& options) {
  Result result;
  std::string note;
  std::vector<std::string> args =
      options.compile_args.empty() ? compile_args_for(path, path.parent_path(), note) : options.compile_args;
  if (!note.empty()) result.notes.push_back(note);
  // C: a .c file, or a header parsed as C (a project whose compile_commands.json has C sources only).
  const bool c_file = path.extension() == ".c" || std::find(args.begin(), args.end(), "-xc") != args.end();
  Parse original(path, text, args);
  if (!original.ok()) {
    result.ok = false;
    result.diagnostics.push_back("libclang could not parse " + path.string());
    result.text = text;
    return result;
  }
  const auto before = original.errors();
  // Not blamed on the file: the compiler may accept what libclang does not (libclang 14 rejects a lambda's
  // capture of a structured binding, valid C++20), and flags may be missing.
  if (!before.empty())
    result.notes.push_back(libclang_version() + " reports " + std::to_string(before.size()) + " error" +
                           (before.size() == 1 ? "" : "s") + " in the file as it is (" + before[0].text() +
                           "), which agentlog cannot tell from limits of libclang's parser or missing flags; "
                           "instrumenting added none");
  // The C runtime, agentlog_trace.h, is next to the C++ one: a file parsed as C gets it, and so does a .h
  // parsed as C++ (C files may include it too): in C++ it includes the C++ runtime, and in C it takes what is
  // written here at levels 1-2.
  const std::string& runtime = options.runtime_include;
  const bool cxx_runtime = runtime.size() > 4 && runtime.compare(runtime.size() - 4, 4, ".hpp") == 0;
  const std::string header =
      cxx_runtime && (c_file || path.extension() == ".h") ? runtime.substr(0, runtime.size() - 2) : runtime;
  // Try the full edit. When it makes new errors, leave out the returns and parameters they are in and try
  // again; when an error is in neither, leave out all return wrapping, then all parameters. The first edit
  // that parses as cleanly as the original wins.
  Blame left_out;
  bool wrap = true, params = true;
  for (int attempt = 0;; ++attempt) {
    Options effective = options;
    if (c_file) effective.level = std::min(options.level, 2);
    Walk walk{text, original.tu(), effective, {}, {}, wrap, params};
    walk.c_language = c_file;
    walk.c_runtime = header.ends_with(".h");
    walk.keep_returns = &left_out.returns;
    walk.keep_params = &left_out.params;
    walk.keep_wraps = &left_out.wraps;
    walk.run();
    // A name asked for that names no function instrumented here (misspelt, or in another file).
    std::vector<std::string> missing;
    for (const auto& f : options.functions)
      if (std::none_of(walk.functions.begin(), walk.functions.end(),
                       [&](const FunctionEdit& e) { return Walk::names(f, e.name); }))
        missing.push_back("no function named '" + f + "' was instrumented in " + path.filename().string() +
                          " (name it as written, `query`, or qualified, `Db::query`)");
    if (walk.functions.empty()) {
      result.text = text;
      result.notes.insert(result.notes.end(), missing.begin(), missing.end());
      if (!before.empty() && options.functions.empty()) {  // nothing found because the file does not parse
        result.ok = false;
        result.source_broken = true;
        for (const auto& e : before) result.diagnostics.push_back(e.text());
      }
      return result;
    }
    std::vector<Placed> placed;
    const std::size_t first_edit =
        std::min_element(walk.edits.begin(), walk.edits.end(), [](const Insertion& a, const Insertion& b) {
          return a.offset < b.offset;
        })->offset;
    std::string candidate =
        apply(text, walk.edits, header, blank_line_for_include(text, original.tu(), first_edit), placed);
    Parse check(path, candidate, args);
    auto introduced = new_errors(before, check.errors());
    if (introduced.empty()) {
      result.text = std::move(candidate);
      result.functions = std::move(walk.functions);
      result.notes.insert(result.notes.end(), missing.begin(), missing.end());
      result.notes.insert(result.notes.end(), walk.skipped.begin(), walk.skipped.end());
      if (!wrap) result.notes.push_back("return values are not wrapped (wrapping did not compile)");
      if (!params) result.notes.push_back("parameters are not captured (capturing them did not compile)");
      if (wrap)
        result.notes.insert(result.notes.end(), left_out.returns_why.begin(), left_out.returns_why.end());
      if (params)
        result.notes.insert(result.notes.end(), left_out.params_why.begin(), left_out.params_why.end());
      result.notes.insert(result.notes.end(), left_out.wraps_why.begin(), left_out.wraps_why.end());
      return result;
    }
    if (attempt < 16 && blame(introduced, walk, placed, text, left_out)) continue;
    if (wrap) {
      wrap = false;
    } else if (params) {
      params = false;
    } else {
      result.ok = false;
      for (const auto& e : introduced) result.diagnostics.push_back(e.text());
      result.text = text;
      return result;
    }
  }
}

}  // namespace agentlog::instrument
