// The same flow with JavaScript switched off: every page still works, the button is never
// disabled, and the server's error summary names the same rules as the checklist.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  browserForSuite,
  CHECKLIST_RULES,
  GOOD_PASSWORD,
  checkScreen,
  createUser,
  failingCases,
  fullWidth,
  openPerson,
  resetLinkOf,
  screenshots,
  steps,
  submitForm,
  url,
  waitForMails,
} from './support.mjs';

describe('password reset without JavaScript', () => {
  const suite = browserForSuite();

  test('the flow completes, and server-side errors show the same rules', async (t) => {
    const user = await createUser('ja');
    const person = await openPerson(suite.browser, { locale: 'ja-JP', javaScriptEnabled: false });
    const { page } = person;
    const step = steps(t);
    const submit = (name) => submitForm(page, () => page.getByRole('button', { name, exact: true }).click());

    await step('request with a full-width username: folded, and the page says so', async () => {
      await page.goto(url('/password-reset'));
      await checkScreen(person, 'request (no JS)', { lang: 'ja', title: 'パスワードリセット' });
      await page.getByLabel('ユーザ名').fill(fullWidth(user.username));
      await submit('パスワードリセット');
      await page.waitForSelector('text=メールを送信しました');
      await checkScreen(person, 'mail sent (no JS)', { lang: 'ja', title: 'メールを送信しました' });
      const body = await page.locator('main').innerText();
      assert.ok(body.includes(user.username), 'the folded username is shown');
      assert.ok(body.includes('全角の文字は半角に変換しました'), 'the page says it folded');
      await screenshots(page, 'nojs-2-mail-sent-folded');
    });

    await step('confirm, then the new-password form with an enabled button', async () => {
      const [mail] = await waitForMails(user.email);
      await page.goto(resetLinkOf(mail));
      await checkScreen(person, 'confirm (no JS)', { lang: 'ja', title: 'パスワードをリセットしますか？' });
      await submit('パスワードのリセット');
      await page.waitForSelector('#password-form');
      await checkScreen(person, 'password form (no JS)', { lang: 'ja', title: '新しいパスワードの設定' });
      assert.ok(await page.locator('#change-password-button').isEnabled(), 'without JS the server decides');
      assert.equal(await page.getByLabel('パスワードを表示する').isVisible(), false, 'no toggle that cannot work');
      await screenshots(page, 'nojs-4-password-form');
    });

    await step('each failing rule comes back from the server, named as in the checklist', async () => {
      for (const { rule, password, confirmation } of failingCases(user.username)) {
        await page.getByLabel('新しいパスワード', { exact: true }).fill(password);
        await page.getByLabel('新しいパスワードの確認').fill(confirmation);
        await submit('パスワードを変更');
        await page.waitForSelector('#error-summary');
        await checkScreen(person, `rejected: ${rule} (no JS)`, { lang: 'ja', title: '新しいパスワードの設定', status: 400 });
        const item = page.locator(`#policy-checklist li[data-rule="${rule}"]`);
        const ruleText = (await item.locator('.rule-text').innerText()).trim();
        const summary = await page.locator('#error-summary').innerText();
        assert.ok(summary.includes(ruleText), `${rule}: the summary names "${ruleText}"`);
        assert.equal((await item.locator('.rule-state').innerText()).trim(), '未達成', `${rule}: unmet in words`);
        for (const other of CHECKLIST_RULES.filter((r) => r !== rule)) {
          const state = (await page.locator(`#policy-checklist li[data-rule="${other}"] .rule-state`).innerText()).trim();
          assert.equal(state, 'OK', `${rule} case: ${other} was met`);
        }
        // `autofocus` puts the focus on the summary without any script.
        assert.equal(await page.locator('#error-summary:focus').count(), 1, `${rule}: focus on the summary`);
        if (rule === 'half_width_only') await screenshots(page, 'nojs-4b-password-rejected');
      }
    });

    await step('a good password completes the reset', async () => {
      await page.getByLabel('新しいパスワード', { exact: true }).fill(GOOD_PASSWORD);
      await page.getByLabel('新しいパスワードの確認').fill(GOOD_PASSWORD);
      await submit('パスワードを変更');
      await page.waitForSelector('text=以上で、パスワードの再設定は完了となります。');
      await checkScreen(person, 'completed (no JS)', { lang: 'ja', title: 'パスワードを変更しました' });
    });

    await person.context.close();
  });
});
