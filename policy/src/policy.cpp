// Placeholder translation unit until the accountability module lands.
