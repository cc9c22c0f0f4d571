//! criterion micro-benchmarks of the hot domain code of the reset functions, and of one
//! argon2id hash with the configured parameters (the floor of change-password).
//!
//! `cargo bench -p reset-bench --bench domain` (scripts/bench.sh runs it with short
//! measurement times); the medians go into bench/results/latest.json.

use criterion::{criterion_group, criterion_main, Criterion};
use reset_core::domain::{Language, NewPassword, ResetToken, Username};
use reset_core::hashing::hash_password_blocking;
use reset_core::web::pages::{self, MailSentDetails, PageContext};
use std::hint::black_box;
use std::time::Duration;

fn username(c: &mut Criterion) {
    let mut group = c.benchmark_group("username");
    group.bench_function("from_typed/ascii", |b| {
        b.iter(|| Username::from_typed(black_box("ex000000")))
    });
    group.bench_function("from_typed/fullwidth", |b| {
        b.iter(|| Username::from_typed(black_box("ｅｘ０００００１")))
    });
    group.bench_function("from_typed/invalid", |b| {
        b.iter(|| Username::from_typed(black_box("abc")))
    });
    group.finish();
}

fn password(c: &mut Criterion) {
    let Ok(user) = Username::parse("ex000000") else {
        panic!("ex000000 is a valid username");
    };
    let mut group = c.benchmark_group("password_policy");
    group.bench_function("parse/valid", |b| {
        b.iter(|| NewPassword::parse(black_box("Sakura2026x"), black_box("Sakura2026x"), &user).is_ok())
    });
    group.bench_function("parse/common", |b| {
        b.iter(|| NewPassword::parse(black_box("Password1"), black_box("Password1"), &user).is_ok())
    });
    group.bench_function("parse/everything_wrong", |b| {
        b.iter(|| NewPassword::parse(black_box("ｐａｓｓ"), black_box("x"), &user).is_ok())
    });
    group.finish();
}

fn token(c: &mut Criterion) {
    let mut group = c.benchmark_group("token");
    group.bench_function("generate", |b| b.iter(ResetToken::generate));
    let Ok(token) = ResetToken::generate() else {
        panic!("the OS CSPRNG is unavailable");
    };
    group.bench_function("hash_sha256", |b| b.iter(|| black_box(&token).hash()));
    group.bench_function("to_url_safe", |b| b.iter(|| black_box(&token).to_url_safe()));
    let text = token.to_url_safe();
    group.bench_function("parse", |b| b.iter(|| ResetToken::parse(black_box(&text)).is_ok()));
    group.bench_function("generate_encode_hash", |b| {
        b.iter(|| ResetToken::generate().map(|t| (t.to_url_safe(), t.hash())).is_ok())
    });
    group.finish();
}

fn context(language: Language) -> PageContext<'static> {
    PageContext {
        language,
        service_name: "医療機関等ID",
        min_password_chars: 8,
        password_requires_symbol: false,
        breach_check: false,
        sign_in_url: "https://id.example.jp/sign-in",
        switch_base: "/password-reset".to_owned(),
    }
}

fn render(c: &mut Criterion) {
    let ja = context(Language::Ja);
    let token = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let mut group = c.benchmark_group("page");
    group.bench_function("request_form", |b| {
        b.iter(|| pages::request_form(black_box(&ja), None, None).into_string())
    });
    let details = MailSentDetails {
        username: "ex000000",
        was_folded: false,
        sender_address: "no-reply@example.jp",
        token_lifetime_minutes: 60,
        support_contact: "医療機関等ID ヘルプデスク（0120-000-000、平日9時〜17時）",
    };
    group.bench_function("mail_sent", |b| {
        b.iter(|| pages::mail_sent(black_box(&ja), black_box(&details)).into_string())
    });
    group.bench_function("confirm", |b| {
        b.iter(|| pages::confirm(black_box(&ja), black_box(token), "2026年1月1日 10:00").into_string())
    });
    group.bench_function("password_form", |b| {
        b.iter(|| pages::password_form(black_box(&ja), black_box(token), Some("ex000000"), &[]).into_string())
    });
    group.bench_function("completed", |b| {
        b.iter(|| pages::completed(black_box(&ja)).into_string())
    });
    group.bench_function("invalid_link", |b| {
        b.iter(|| pages::invalid_link(black_box(&ja)).into_string())
    });
    group.finish();
}

fn argon2(c: &mut Criterion) {
    let mut group = c.benchmark_group("argon2id");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("hash_password_blocking", |b| {
        b.iter(|| hash_password_blocking(black_box("Sakura2026x")).is_ok())
    });
    group.finish();
}

criterion_group!(benches, username, password, token, render, argon2);
criterion_main!(benches);
