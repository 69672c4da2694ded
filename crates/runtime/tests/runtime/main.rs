//! Integration tests of `planspec-runtime` with real processes, files and loopback HTTP
//! servers. One test binary (modules below) so the suite links once.

mod acceptance;
mod exec;
mod http;
mod logs;
mod registry;
mod secrets;
mod support;
