// The whole flow in headless Chromium, in Japanese, with JavaScript: request → mail sent → the
// link from the SES emulator → 「パスワードをリセットしますか？」 → 「パスワードのリセット」 → the
// new-password form with its live checklist → 「パスワードを変更」 → completion, then the spent link.
// Every screen is checked with axe-core and photographed at desktop and phone width.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  browserForSuite,
  CHECKLIST_RULES,
  GOOD_PASSWORD,
  checkScreen,
  checklist,
  createUser,
  expectNoAxeViolations,
  expectVisibleFocus,
  failingCases,
  fullWidth,
  openPerson,
  resetLinkOf,
  screenshots,
  steps,
  submitForm,
  tabUntil,
  url,
  waitForMails,
} from './support.mjs';

const MET = 'OK';
const UNMET = '未達成';

describe('password reset in Japanese, with JavaScript', () => {
  const suite = browserForSuite();

  test('the whole flow, keyboard only, with the live checklist', async (t) => {
    const user = await createUser('ja');
    const person = await openPerson(suite.browser, { locale: 'ja-JP' });
    const { page } = person;
    const step = steps(t);
    let link;

    await step('request page', async () => {
      await page.goto(url('/password-reset'));
      await checkScreen(person, 'request', { lang: 'ja', title: 'パスワードリセット' });
      const username = page.getByLabel('ユーザ名');
      assert.equal(await username.getAttribute('autocomplete'), 'username');
      assert.match(await username.getAttribute('aria-describedby'), /username-hint/);
      await screenshots(page, 'ja-1-request');
    });

    await step('a malformed username brings the form back with the focus on the error summary', async () => {
      await page.getByLabel('ユーザ名').fill('abc');
      await submitForm(page, () => page.getByRole('button', { name: 'パスワードリセット' }).click());
      await page.waitForSelector('#error-summary');
      await checkScreen(person, 'request with an error', { lang: 'ja', title: 'パスワードリセット', status: 400 });
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'error-summary');
      assert.match(await page.locator('#error-summary').innerText(), /半角英数字8文字/);
      assert.equal(await page.getAttribute('#username', 'aria-invalid'), 'true');
      await screenshots(page, 'ja-1b-request-error');
    });

    await step('full-width input is folded, and the page says so as it is typed', async () => {
      await page.getByLabel('ユーザ名').fill(fullWidth(user.username));
      const note = page.locator('#username-folded');
      assert.match(await note.innerText(), new RegExp(`半角に変換[\\s\\S]*${user.username}`));
      await page.getByLabel('ユーザ名').fill('');
      assert.equal((await note.innerText()).trim(), '', 'no note for an empty field');
    });

    await step('keyboard only: Tab to the username, type it, Enter', async () => {
      await page.goto(url('/password-reset'));
      await tabUntil(page, 'the username field', () => document.activeElement?.id === 'username');
      await expectVisibleFocus(page, 'username field');
      await page.keyboard.type(user.username);
      await tabUntil(page, 'the submit button', () => document.activeElement?.type === 'submit');
      await expectVisibleFocus(page, 'submit button');
      await submitForm(page, () => page.keyboard.press('Enter'));
      await page.waitForSelector('text=メールを送信しました');
    });

    await step('mail sent page', async () => {
      await checkScreen(person, 'mail sent', { lang: 'ja', title: 'メールを送信しました' });
      const body = await page.locator('main').innerText();
      for (const part of [user.username, '迷惑メール', '送信専用', 'no-reply@example.jp']) {
        assert.ok(body.includes(part), `mail-sent page names ${part}`);
      }
      await screenshots(page, 'ja-2-mail-sent');
    });

    await step('the mail carries the link', async () => {
      const [mail] = await waitForMails(user.email);
      link = resetLinkOf(mail);
    });

    await step('confirm page: 「パスワードをリセットしますか？」 with the expiry time', async () => {
      await page.goto(link);
      await checkScreen(person, 'confirm', { lang: 'ja', title: 'パスワードをリセットしますか？' });
      assert.match(await page.locator('.expiry').innerText(), /有効期限[\s\S]*\d{1,2}:\d{2}[\s\S]*（日本時間）/);
      await screenshots(page, 'ja-3-confirm');
      await tabUntil(page, '「パスワードのリセット」', () => document.activeElement?.textContent?.trim() === 'パスワードのリセット');
      await expectVisibleFocus(page, '「パスワードのリセット」');
      await submitForm(page, () => page.keyboard.press('Enter'));
      await page.waitForSelector('#password-form');
    });

    const button = page.locator('#change-password-button');
    const password = page.getByLabel('新しいパスワード', { exact: true });
    const confirmation = page.getByLabel('新しいパスワードの確認');

    await step('new-password form: labelled fields, hints tied, checklist live, button disabled', async () => {
      await checkScreen(person, 'password form', { lang: 'ja', title: '新しいパスワードの設定' });
      for (const field of [password, confirmation]) {
        assert.equal(await field.getAttribute('autocomplete'), 'new-password');
        assert.match(await field.getAttribute('aria-describedby'), /policy-rules/);
      }
      assert.equal(await page.getAttribute('#policy-checklist', 'aria-live'), 'polite');
      assert.ok(await button.isDisabled(), 'disabled while nothing is typed');
      const states = await checklist(page);
      assert.deepEqual(Object.keys(states), CHECKLIST_RULES);
      for (const rule of CHECKLIST_RULES) assert.equal(states[rule].state, UNMET, `${rule} before typing`);
      assert.match(await page.locator('#button-hint').innerText(), /あと7つの条件/);
    });

    await step('the checklist follows each keystroke, in words', async () => {
      await password.focus();
      await page.keyboard.type('kanagawa');
      let states = await checklist(page);
      assert.equal(states.min_length.state, MET);
      assert.equal(states.lowercase.state, MET);
      assert.equal(states.uppercase.state, UNMET);
      assert.equal(states.digit.state, UNMET);
      await page.keyboard.type('2026');
      states = await checklist(page);
      assert.equal(states.digit.state, MET);
      assert.equal(states.uppercase.state, UNMET);
      assert.ok(await button.isDisabled());
    });

    await step('the button is disabled for each failing rule, and the checklist names it', async () => {
      for (const { rule, password: p, confirmation: c } of failingCases(user.username)) {
        await password.fill(p);
        await confirmation.fill(c);
        const states = await checklist(page);
        assert.equal(states[rule].state, UNMET, `${rule}: marked unmet in words`);
        for (const other of CHECKLIST_RULES.filter((r) => r !== rule)) {
          assert.equal(states[other].state, MET, `${rule} case: ${other} is met`);
        }
        assert.ok(await button.isDisabled(), `${rule}: 「パスワードを変更」 disabled`);
        assert.match(await page.locator('#button-hint').innerText(), /あと1つの条件/);
      }
    });

    await step('screenshot: a failing rule, shown with the password visible', async () => {
      await password.fill('kanagawa2026');
      await confirmation.fill('kanagawa2026');
      await page.getByLabel('パスワードを表示する').check();
      assert.equal(await password.getAttribute('type'), 'text');
      assert.equal(await confirmation.getAttribute('type'), 'text');
      await expectNoAxeViolations(page, 'password form with a failing rule');
      await screenshots(page, 'ja-4-password-failing');
      await page.getByLabel('パスワードを表示する').uncheck();
      assert.equal(await password.getAttribute('type'), 'password');
    });

    await step('Caps Lock warning', async () => {
      const warning = page.locator('#caps-lock-warning');
      await password.dispatchEvent('keydown', { key: 'A', modifierCapsLock: true });
      assert.equal((await warning.innerText()).trim(), 'Caps Lock がオンになっています。');
      await password.dispatchEvent('keyup', { key: 'a' });
      assert.equal((await warning.innerText()).trim(), '');
    });

    await step('enabled exactly when every rule holds and both fields match', async () => {
      await password.fill(GOOD_PASSWORD);
      await confirmation.fill(GOOD_PASSWORD);
      const states = await checklist(page);
      for (const rule of CHECKLIST_RULES) assert.equal(states[rule].state, MET, `${rule} met`);
      assert.ok(await button.isEnabled(), 'enabled when all hold');
      assert.match(await page.locator('#button-hint').innerText(), /すべての条件を満たしました/);
      await expectNoAxeViolations(page, 'password form, all rules met');
      await screenshots(page, 'ja-5-password-ready');
      await confirmation.fill(`${GOOD_PASSWORD}!`);
      assert.ok(await button.isDisabled(), 'disabled again when the fields differ');
      await confirmation.fill(GOOD_PASSWORD);
      assert.ok(await button.isEnabled());
    });

    await step('keyboard only: Tab to 「パスワードを変更」 and press Enter', async () => {
      await password.focus();
      await tabUntil(page, '「パスワードを変更」', () => document.activeElement?.id === 'change-password-button');
      await expectVisibleFocus(page, '「パスワードを変更」');
      await submitForm(page, () => page.keyboard.press('Enter'));
      await page.waitForSelector('text=以上で、パスワードの再設定は完了となります。');
    });

    await step('completion page', async () => {
      await checkScreen(person, 'completed', { lang: 'ja', title: 'パスワードを変更しました' });
      await screenshots(page, 'ja-6-completed');
      const mails = await waitForMails(user.email, 2);
      assert.match(mails[1].subject, /パスワードが変更されました/);
    });

    await step('the spent link shows the invalid-link page', async () => {
      await page.goto(link);
      await checkScreen(person, 'invalid link', {
        lang: 'ja',
        title: 'このURLは無効か、有効期限が切れています',
        status: 400,
      });
      await screenshots(page, 'ja-7-invalid-link');
    });

    await person.context.close();
  });

  test('a server-side rejection moves the focus to the summary and keeps the link', async () => {
    const user = await createUser('ja');
    const person = await openPerson(suite.browser, { locale: 'ja-JP' });
    const { page } = person;
    await page.goto(url('/password-reset'));
    await page.getByLabel('ユーザ名').fill(user.username);
    await submitForm(page, () => page.getByRole('button', { name: 'パスワードリセット' }).click());
    await page.waitForSelector('text=メールを送信しました');
    const [mail] = await waitForMails(user.email);
    await page.goto(resetLinkOf(mail));
    await submitForm(page, () => page.getByRole('button', { name: 'パスワードのリセット' }).click());
    await page.waitForSelector('#password-form');
    // A common password passes every rule the browser can check; only the server knows the list.
    await page.getByLabel('新しいパスワード', { exact: true }).fill('Password1');
    await page.getByLabel('新しいパスワードの確認').fill('Password1');
    assert.ok(await page.locator('#change-password-button').isEnabled());
    await submitForm(page, () => page.getByRole('button', { name: 'パスワードを変更' }).click());
    await page.waitForSelector('#error-summary');
    await checkScreen(person, 'password form, rejected by the server', {
      lang: 'ja',
      title: '新しいパスワードの設定',
      status: 400,
    });
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'error-summary');
    assert.match(await page.locator('#error-summary').innerText(), /推測されやすい/);
    await screenshots(page, 'ja-8-password-rejected');
    await page.getByLabel('新しいパスワード', { exact: true }).fill(GOOD_PASSWORD);
    await page.getByLabel('新しいパスワードの確認').fill(GOOD_PASSWORD);
    await submitForm(page, () => page.getByRole('button', { name: 'パスワードを変更' }).click());
    await page.waitForSelector('text=以上で、パスワードの再設定は完了となります。');
    await person.context.close();
  });
});
