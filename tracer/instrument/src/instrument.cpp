// Placeholder translation unit until the instrumenter lands.
