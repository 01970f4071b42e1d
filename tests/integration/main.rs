//! The integration tests: one test binary, one module per part, sharing `common` (the
//! command builder, waiting for records, the demo fixture made once per run).

mod accounts;
mod anchor;
mod archive;
mod bad_input;
mod bench;
mod browser;
mod common;
mod crash;
mod demo;
mod disk;
mod docs;
mod doctor;
mod export;
mod health;
mod house;
mod kiosk;
mod ledger_kinds;
mod ledger_v3;
mod lookup;
mod notify;
mod recording;
mod retention;
mod rtsp;
mod run;
mod scanners;
mod server;
mod servers;
mod share;
mod stations;
mod stats;
mod stranger;
mod tamper;
mod upload;
mod witness;
mod zh;
