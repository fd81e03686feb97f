#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#define MAKE(name) int name() { return 1; }
MAKE(from_macro)

constexpr int square(int v) { return v * v; }

#if 0
int hidden(int v) { return v; }
#endif

char grade(int score) { return score > 50 ? 'A' : 66; }

namespace shop {

class Cart {
 public:
  Cart() = default;
  explicit Cart(int owner) : owner_(owner) {
    items_.reserve(4);
  }
  Cart(const Cart&) = delete;
  ~Cart() {
    items_.clear();
  }
  bool operator==(const Cart& other) const {
    return owner_ == other.owner_;
  }
  int add(const std::string& item, int count) {
    if (count <= 0) throw std::invalid_argument("count");
    int total = static_cast<int>(items_.size()) + count;
    for (int i = 0; i < count; ++i) items_.push_back(item);
    return total;
  }
  const std::vector<std::string>& items() const { return items_; }

 private:
  int owner_ = 0;
  std::vector<std::string> items_;
};

}  // namespace shop

template <class T>
T biggest(const std::vector<T>& values) {
  T best = values.front();
  for (const T& v : values) {
    if (v > best) best = v;
  }
  return best;
}

std::unique_ptr<int> make_owned(int v) {
  return std::make_unique<int>(v);
}

std::string named(int n) {
  std::string s = std::to_string(n);
  return s;
}

void apply(std::vector<int>& values, int delta) {
  auto bump = [delta](int v) {
    return v + delta;
  };
  for (int& v : values) v = bump(v);
}

int run() {
  shop::Cart cart(7);
  int n = cart.add("pen", 2);
  std::vector<int> v{1, 2, 3};
  apply(v, n);
  return biggest(v) + square(2) + from_macro() + *make_owned(1) + static_cast<int>(named(3).size());
}

int classify(int k) {
  int acc = 0;
  int unset;
  switch (k) {
    case 0:
      acc += 1;
      [[fallthrough]];
    case 1:
      acc += 10;
      break;
    default:
      break;
  }
  if (acc > 5) goto done;
  acc = -acc;
done:
  unset = acc;
  return unset;
}

// Allman style, the signature over two lines: the span names the line of the name.
// clang-format off
long
scale(long value,
      int factor)
{
  return value * factor;
}
// clang-format on

int parse_or(const std::string& text, int fallback) try {
  return std::stoi(text);
} catch (const std::exception&) {
  return fallback;
}

int sum_pairs(const std::vector<std::pair<int, int>>& pairs) {
  int total = 0;
  for (const auto& pair : pairs) {
    const auto& [first, second] = pair;
    total += first * second;
  }
  return total;
}
