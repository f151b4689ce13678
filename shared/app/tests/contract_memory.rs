//! The store contract, run against the embedded in-memory backend.

test_kit::contract_suite!(async { app::memory::MemoryBackend::new() });
test_kit::sweep_contract_suite!(async { app::memory::MemoryBackend::new() });
