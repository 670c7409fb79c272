//! Helpers for the end-to-end tests: servers, peers, fixtures.
