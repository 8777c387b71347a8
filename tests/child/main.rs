//! Tests that run the real `answerlog` binary as a child process: killed
//! with SIGKILL at random points, and serving from a tmpfs that fills up.

mod crash;
mod full_disk;
mod served;
