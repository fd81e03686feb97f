// Placeholder translation unit until the trace store lands.
