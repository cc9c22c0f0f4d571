// The address-change request, the guide's fallback when the registered mailbox no longer works,
// through the real path in headless Chromium: the "mail sent" page's link → 「メールアドレス変更の申請」
// (username and the four items) → the confirmation mail read from the SES emulator → 「申請を確定する」
// → the registered address is told → an administrator approves with the reset-admin CLI → a new
// reset request mails the new address → the password is changed. Every screen is checked with
// axe-core and photographed; the form is also sent in English and without JavaScript.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  browserForSuite,
  GOOD_PASSWORD,
  PUBLIC_BASE_URL,
  ROOT,
  checkScreen,
  createUser,
  openPerson,
  randomUsername,
  resetLinkOf,
  runResetAdmin,
  screenshots,
  steps,
  submitForm,
  url,
  waitForMails,
} from './support.mjs';

/** Runs the admin CLI with the test stack's environment (exported by scripts/test.sh). */
async function resetAdmin(...args) {
  return runResetAdmin(['--actor', 'browser-test', ...args]);
}

/** Four days pass for one request: its notice to the registered address is dated back in
 * DynamoDB Local (the test cannot wait out the objection window; nothing else is touched). */
async function noticeSentDaysAgo(requestId, days) {
  const response = await fetch(process.env.AWS_ENDPOINT_URL_DYNAMODB, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': 'DynamoDB_20120810.UpdateItem',
      // DynamoDB Local wants the header's form, not a valid signature.
      authorization: 'AWS4-HMAC-SHA256 Credential=local/20260101/ap-northeast-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00',
    },
    body: JSON.stringify({
      TableName: process.env.ADDRESS_REQUESTS_TABLE,
      Key: { request_id: { S: requestId } },
      UpdateExpression: 'SET notice_sent_at = :at',
      ConditionExpression: 'attribute_exists(notice_sent_at)',
      ExpressionAttributeValues: { ':at': { N: String(Date.now() - days * 24 * 3600 * 1000) } },
    }),
  });
  assert.equal(response.status, 200, await response.text());
}

/** The confirmation link of an address-request mail; it must be built on PUBLIC_BASE_URL. */
function verificationLinkOf(mail) {
  const text = mail.body?.text ?? '';
  const match = text.match(/https?:\/\/[^\s<>"]+\/password-reset\/address-change\/verify\?id=[0-9a-f]{32}&token=[A-Za-z0-9_-]{43}(&lang=en)?/);
  assert.ok(match, `no confirmation link in the mail text:\n${text}`);
  assert.ok(match[0].startsWith(`${PUBLIC_BASE_URL}/password-reset/address-change/verify?`), `link on ${PUBLIC_BASE_URL}`);
  return match[0];
}

async function fillRequest(page, labels, values) {
  for (const [label, value] of labels.map((l, i) => [l, values[i]])) {
    await page.getByLabel(label, { exact: true }).fill(value);
  }
}

const JA_LABELS = ['ユーザ名', '①医療機関名', '②所在地', '③ご担当者名', '④変更後のメールアドレス'];
const EN_LABELS = [
  'Username',
  '1. Name of the medical institution',
  '2. Location',
  '3. Contact person',
  '4. New mail address',
];

describe('address-change request', () => {
  const suite = browserForSuite();

  test('request, confirm from the new address, approval, reset mail to the new address', async (t) => {
    const user = await createUser('ja');
    const newEmail = `${user.username}-new@clinic.example.jp`;
    const person = await openPerson(suite.browser, { locale: 'ja-JP' });
    const { page } = person;
    const step = steps(t);
    let oldLink;
    let requestId;

    await step('a reset mail to the old address (its link will die with the change)', async () => {
      await page.goto(url('/password-reset'));
      await page.getByLabel('ユーザ名').fill(user.username);
      await submitForm(page, () => page.getByRole('button', { name: 'パスワードリセット' }).click());
      await page.waitForSelector('text=メールを送信しました');
      oldLink = resetLinkOf((await waitForMails(user.email, 1))[0]);
      await screenshots(page, 'ja-address-0-mail-sent');
    });

    await step('the "mail sent" page links to 「メールアドレス変更の申請」 under 「10分以上たっても…」', async () => {
      const help = page.locator('section.help');
      assert.match(await help.innerText(), /10分以上たってもメールが届かない場合/);
      await help.getByRole('link', { name: 'メールアドレス変更の申請' }).click();
      await page.waitForSelector('#address-request-form');
      await checkScreen(person, 'address form', { lang: 'ja', title: 'メールアドレス変更の申請' });
      for (const label of JA_LABELS) assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, label);
      await screenshots(page, 'ja-address-1-form');
    });

    await step('missing items bring the form back with every mistake listed and the typed text kept', async () => {
      await fillRequest(page, JA_LABELS, [user.username, '', '東京都千代田区霞が関1-2-2', '', 'info@']);
      await submitForm(page, () => page.getByRole('button', { name: '申請する' }).click());
      await page.waitForSelector('#error-summary');
      await checkScreen(person, 'address form with errors', { lang: 'ja', title: 'メールアドレス変更の申請', status: 400 });
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'error-summary');
      const summary = await page.locator('#error-summary').innerText();
      for (const part of ['医療機関名を入力してください', 'ご担当者名を入力してください', 'メールアドレスの形式']) {
        assert.ok(summary.includes(part), `the summary names: ${part}`);
      }
      assert.equal(await page.getByLabel('②所在地').inputValue(), '東京都千代田区霞が関1-2-2');
      assert.equal(await page.getAttribute('#institution', 'aria-invalid'), 'true');
      await screenshots(page, 'ja-address-1b-form-errors');
    });

    await step('the complete request: 「確認のメールを送信しました」', async () => {
      await fillRequest(page, JA_LABELS, [
        user.username,
        'さくら内科クリニック',
        '東京都千代田区霞が関1-2-2',
        '山田 花子',
        newEmail,
      ]);
      await submitForm(page, () => page.getByRole('button', { name: '申請する' }).click());
      await page.waitForSelector('text=確認のメールを送信しました');
      await checkScreen(person, 'address request accepted', { lang: 'ja', title: '確認のメールを送信しました' });
      assert.ok((await page.locator('main').innerText()).includes(newEmail));
      await screenshots(page, 'ja-address-2-accepted');
    });

    await step('the new address gets the link; opening it shows 「申請を確定しますか？」 and confirms nothing', async () => {
      const [mail] = await waitForMails(newEmail, 1);
      assert.match(mail.subject, /メールアドレス変更申請の確認/);
      const link = verificationLinkOf(mail);
      requestId = new URL(link).searchParams.get('id');
      await page.goto(link);
      await checkScreen(person, 'address verify', { lang: 'ja', title: '申請を確定しますか？' });
      assert.ok((await page.locator('main').innerText()).includes('さくら内科クリニック'));
      const listed = await resetAdmin('address-requests', 'list');
      assert.ok(!listed.includes(requestId), `opened but unconfirmed, yet listed:\n${listed}`);
      await screenshots(page, 'ja-address-3-verify');
    });

    await step('「申請を確定する」: the request is queued and the registered address is told', async () => {
      await submitForm(page, () => page.getByRole('button', { name: '申請を確定する' }).click());
      await page.waitForSelector('text=申請を受け付けました');
      await checkScreen(person, 'address request verified', { lang: 'ja', title: '申請を受け付けました' });
      await screenshots(page, 'ja-address-4-verified');
      const mails = await waitForMails(user.email, 2);
      const notice = mails.find((m) => m.subject.includes('登録メールアドレスの変更が申請されました'));
      assert.ok(notice, 'the registered address heard of the request');
      assert.ok(!notice.body.text.includes(newEmail), 'the notice masks the new address');
    });

    await step('an administrator lists, shows and approves it with reset-admin', async () => {
      const listed = await resetAdmin('address-requests', 'list');
      assert.ok(listed.includes(requestId) && listed.includes(user.username), listed);
      const shown = JSON.parse(await resetAdmin('address-requests', 'show', requestId));
      assert.equal(shown.state, 'pending');
      assert.equal(shown.new_email, newEmail);
      assert.equal(shown.contact_person, '山田 花子');
      // The owner may object for ADDRESS_REQUEST_OBJECTION_HOURS (72) after the notice: approving
      // now is refused, and no override shortens that.
      await assert.rejects(
        resetAdmin(
          'address-requests', 'approve', requestId,
          '--reason', 'matches the prefecture list',
          '--override-reason', 'in a hurry',
        ),
        (error) => /the owner may object until/.test(error.stderr),
      );
      await noticeSentDaysAgo(requestId, 4);
      const approved = await resetAdmin('address-requests', 'approve', requestId, '--reason', 'matches the prefecture list');
      assert.match(approved, /approved address request/);
      const audit = await resetAdmin('audit', user.username);
      assert.match(audit, /approve-address-request/);
      assert.match(audit, /set-email/);
    });

    await step('the link mailed to the old address is dead', async () => {
      await page.goto(oldLink);
      await checkScreen(person, 'old link after the change', {
        lang: 'ja',
        title: 'このURLは無効か、有効期限が切れています',
        status: 400,
      });
    });

    await step('a new reset request mails the new address, and the password is changed', async () => {
      const before = (await waitForMails(newEmail, 1)).length;
      await page.goto(url('/password-reset'));
      await page.getByLabel('ユーザ名').fill(user.username);
      await submitForm(page, () => page.getByRole('button', { name: 'パスワードリセット' }).click());
      const mails = await waitForMails(newEmail, before + 1);
      await page.goto(resetLinkOf(mails[mails.length - 1]));
      await submitForm(page, () => page.getByRole('button', { name: 'パスワードのリセット' }).click());
      await page.getByLabel('新しいパスワード', { exact: true }).fill(GOOD_PASSWORD);
      await page.getByLabel('新しいパスワードの確認').fill(GOOD_PASSWORD);
      await submitForm(page, () => page.getByRole('button', { name: 'パスワードを変更' }).click());
      await page.waitForSelector('text=以上で、パスワードの再設定は完了となります。');
    });

    await person.context.close();
  });

  test('in English, and without JavaScript', async (t) => {
    const step = steps(t);
    await step('English form and answer', async () => {
      const person = await openPerson(suite.browser, { locale: 'en-US' });
      const { page } = person;
      await page.goto(url('/password-reset/address-change?lang=en'));
      await checkScreen(person, 'address form (en)', { lang: 'en', title: 'Request a change of address' });
      const newEmail = `${randomUsername()}@clinic.example.jp`;
      // Only a real account's request is mailed (an unknown username gets the same page, no mail).
      const account = await createUser('en');
      await fillRequest(page, EN_LABELS, [account.username, 'Sakura Clinic', 'Chiyoda-ku, Tokyo', 'Hanako Yamada', newEmail]);
      await submitForm(page, () => page.getByRole('button', { name: 'Send request' }).click());
      await page.waitForSelector('text=We have sent a confirmation mail');
      await checkScreen(person, 'address request accepted (en)', { lang: 'en', title: 'We have sent a confirmation mail' });
      await screenshots(page, 'en-address-2-accepted');
      const [mail] = await waitForMails(newEmail, 1);
      assert.match(mail.subject, /Confirm your address-change request/);
      assert.ok(verificationLinkOf(mail).endsWith('&lang=en'));
      await person.context.close();
    });

    await step('without JavaScript the form, the link and the confirmation work', async () => {
      const person = await openPerson(suite.browser, { locale: 'ja-JP', javaScriptEnabled: false });
      const { page } = person;
      await page.goto(url('/password-reset/address-change'));
      const newEmail = `${randomUsername()}@clinic.example.jp`;
      const account = await createUser('ja');
      await fillRequest(page, JA_LABELS, [account.username, 'さくら歯科', '大阪府大阪市北区', '佐藤 一郎', newEmail]);
      await submitForm(page, () => page.getByRole('button', { name: '申請する' }).click());
      await page.waitForSelector('text=確認のメールを送信しました');
      const [mail] = await waitForMails(newEmail, 1);
      await page.goto(verificationLinkOf(mail));
      await submitForm(page, () => page.getByRole('button', { name: '申請を確定する' }).click());
      await page.waitForSelector('text=申請を受け付けました');
      await checkScreen(person, 'address request verified (no JS)', { lang: 'ja', title: '申請を受け付けました' });
      await screenshots(page, 'nojs-address-4-verified');
      await person.context.close();
    });
  });
});
