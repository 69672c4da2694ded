//! Log files: line-atomic interleaving, limits, reading and following.

use std::time::Duration;

use planspec_runtime::{CancellationToken, LogLimits, LogReader, LogSink, LogStream};

use crate::support::scratch;

#[tokio::test]
async fn streams_interleave_by_whole_lines() {
    let (_dir, work) = scratch();
    let path = work.join("a.log");
    let log = LogSink::create(&path, LogLimits::default())
        .await
        .expect("create");
    log.write(LogStream::Stdout, b"compiling ").await;
    log.write(LogStream::Stderr, b"warning: x\n").await;
    log.write(LogStream::Stdout, b"done\npartial").await;
    log.note("attempt finished").await;
    log.finish().await.expect("finish");
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        text,
        "warning: x\ncompiling done\n[planspec] attempt finished\npartial\n"
    );
}

#[tokio::test]
async fn a_stream_over_its_limit_keeps_head_and_tail() {
    let (_dir, work) = scratch();
    let path = work.join("b.log");
    let limits = LogLimits {
        per_stream: 10,
        tail: 4,
    };
    let log = LogSink::create(&path, limits).await.expect("create");
    log.write(LogStream::Stdout, b"0123456789abcdef").await;
    log.write(LogStream::Stdout, b"ghij\n").await;
    log.write(LogStream::Stderr, b"err\n").await;
    let summary = log.finish().await.expect("finish");
    assert_eq!(summary.stdout_dropped, 11);
    assert_eq!(summary.stderr_dropped, 0);
    let text = std::fs::read_to_string(&path).expect("read");
    assert_eq!(
        text,
        "0123456789\n\
         [planspec] stdout reached the log limit of 10 bytes; further output is dropped \
         (its last 4 bytes are appended when the stream ends)\n\
         err\n\
         [planspec] stdout: 11 bytes dropped in total; the last 4 follow\n\
         hij\n"
    );
    assert_eq!(summary.bytes_written, text.len() as u64);
}

#[tokio::test]
async fn readers_resume_from_an_offset_and_follow_until_complete() {
    let (_dir, work) = scratch();
    let path = work.join("nested/c.log");
    let mut early = LogReader::new(&path, 0);
    assert!(early
        .read(1024)
        .await
        .expect("read before create")
        .is_empty());
    assert!(!early.is_complete().await);

    let log = LogSink::create(&path, LogLimits::default())
        .await
        .expect("create");
    let writer = {
        let log = log.clone();
        tokio::spawn(async move {
            for i in 0..5 {
                log.write(LogStream::Stdout, format!("line {i}\n").as_bytes())
                    .await;
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
            log.finish().await.expect("finish");
        })
    };
    let cancel = CancellationToken::new();
    let mut followed = Vec::new();
    while let Some(chunk) = early
        .follow(4, Duration::from_millis(10), &cancel)
        .await
        .expect("follow")
    {
        assert!(chunk.len() <= 4);
        followed.extend(chunk);
    }
    writer.await.expect("writer");
    let expected: String = (0..5).map(|i| format!("line {i}\n")).collect();
    assert_eq!(String::from_utf8(followed).expect("utf-8"), expected);
    assert_eq!(early.offset(), expected.len() as u64);

    let mut resumed = LogReader::new(&path, 7);
    assert_eq!(resumed.read(7).await.expect("read"), b"line 1\n");
    assert_eq!(resumed.offset(), 14);
}

#[tokio::test]
async fn following_an_unfinished_log_stops_on_cancel() {
    let (_dir, work) = scratch();
    let path = work.join("d.log");
    let _log = LogSink::create(&path, LogLimits::default())
        .await
        .expect("create");
    let cancel = CancellationToken::new();
    let mut reader = LogReader::new(&path, 0);
    let stopper = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stopper.cancel();
    });
    let next = tokio::time::timeout(
        Duration::from_secs(5),
        reader.follow(1024, Duration::from_millis(10), &cancel),
    )
    .await
    .expect("cancel is prompt")
    .expect("follow");
    assert_eq!(next, None);
}
