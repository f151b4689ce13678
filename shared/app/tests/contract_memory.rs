//! The store contract, run against the embedded in-memory backend.

app::contract_suite!(async { app::memory::MemoryBackend::new() });
app::sweep_contract_suite!(async { app::memory::MemoryBackend::new() });
