//! Tests that stop or freeze the SES emulator every other test mails through. scripts/test.sh
//! skips this module in the main run (`--skip disruptive::`) and runs it alone afterwards.

mod mail_queue;
