// English: chosen by the browser (Accept-Language) or by `?lang=en`, and kept through the flow.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  browserForSuite,
  CHECKLIST_RULES,
  GOOD_PASSWORD,
  checkScreen,
  checklist,
  createUser,
  openPerson,
  resetLinkOf,
  screenshots,
  steps,
  submitForm,
  url,
  waitForMails,
} from './support.mjs';

describe('password reset in English', () => {
  const suite = browserForSuite();

  test('an English browser (Accept-Language: en) gets English pages, and the flow works', async (t) => {
    const user = await createUser('en');
    const person = await openPerson(suite.browser, { locale: 'en-US' });
    const { page } = person;
    const step = steps(t);
    let link;

    await step('request and mail sent', async () => {
      await page.goto(url('/password-reset'));
      await checkScreen(person, 'en request', { lang: 'en', title: 'Reset your password' });
      await screenshots(page, 'en-1-request');
      await page.getByLabel('Username').fill(user.username);
      await submitForm(page, () => page.getByRole('button', { name: 'Reset password' }).click());
      await page.waitForSelector('text=We have sent you a mail');
      await checkScreen(person, 'en mail sent', { lang: 'en', title: 'We have sent you a mail' });
      await screenshots(page, 'en-2-mail-sent');
      const [mail] = await waitForMails(user.email);
      link = resetLinkOf(mail);
    });

    await step('confirm and the new-password form with its checklist', async () => {
      await page.goto(link);
      await checkScreen(person, 'en confirm', { lang: 'en', title: 'Reset your password?' });
      assert.match(await page.locator('.expiry').innerText(), /Japan Standard Time/);
      await screenshots(page, 'en-3-confirm');
      await submitForm(page, () => page.getByRole('button', { name: 'Reset password' }).click());
      await page.waitForSelector('#password-form');
      await checkScreen(person, 'en password form', { lang: 'en', title: 'Set a new password' });
      const button = page.getByRole('button', { name: 'Change password' });
      await page.getByLabel('New password', { exact: true }).fill('kanagawa2026x');
      await page.getByLabel('Confirm new password').fill('kanagawa2026x');
      const states = await checklist(page);
      assert.equal(states.uppercase.state, 'Not yet');
      assert.equal(states.uppercase.text, 'At least one uppercase letter (A\u2013Z)');
      assert.ok(await button.isDisabled());
      await screenshots(page, 'en-4-password-failing');
      await page.getByLabel('New password', { exact: true }).fill(GOOD_PASSWORD);
      await page.getByLabel('Confirm new password').fill(GOOD_PASSWORD);
      const met = await checklist(page);
      for (const rule of CHECKLIST_RULES) assert.equal(met[rule].state, 'OK', rule);
      assert.ok(await button.isEnabled());
      await submitForm(page, () => button.click());
      await page.waitForSelector('text=The password reset is complete.');
      await checkScreen(person, 'en completed', { lang: 'en', title: 'Your password has been changed' });
      await screenshots(page, 'en-6-completed');
    });

    await step('the spent link', async () => {
      await page.goto(link);
      await checkScreen(person, 'en invalid link', { lang: 'en', title: 'This link is invalid or has expired', status: 400 });
      await screenshots(page, 'en-7-invalid-link');
    });

    await person.context.close();
  });

  test('?lang=en in a Japanese browser gives English pages all the way', async () => {
    const user = await createUser('ja');
    const person = await openPerson(suite.browser, { locale: 'ja-JP' });
    const { page } = person;
    await page.goto(url('/password-reset'));
    assert.equal(await page.getAttribute('html', 'lang'), 'ja', 'Japanese by default');
    // The language switch in the header.
    await page.getByRole('link', { name: 'English' }).click();
    await page.waitForSelector('html[lang="en"]');
    assert.match(page.url(), /[?&]lang=en\b/);
    await checkScreen(person, '?lang=en request', { lang: 'en', title: 'Reset your password' });
    await page.getByLabel('Username').fill(user.username);
    await submitForm(page, () => page.getByRole('button', { name: 'Reset password' }).click());
    await page.waitForSelector('text=We have sent you a mail');
    await checkScreen(person, '?lang=en mail sent', { lang: 'en', title: 'We have sent you a mail' });
    const [mail] = await waitForMails(user.email);
    await page.goto(`${resetLinkOf(mail)}&lang=en`);
    await checkScreen(person, '?lang=en confirm', { lang: 'en', title: 'Reset your password?' });
    await submitForm(page, () => page.getByRole('button', { name: 'Reset password' }).click());
    await page.waitForSelector('#password-form');
    await checkScreen(person, '?lang=en password form', { lang: 'en', title: 'Set a new password' });
    await page.getByLabel('New password', { exact: true }).fill(GOOD_PASSWORD);
    await page.getByLabel('Confirm new password').fill(GOOD_PASSWORD);
    await submitForm(page, () => page.getByRole('button', { name: 'Change password' }).click());
    await page.waitForSelector('text=The password reset is complete.');
    await checkScreen(person, '?lang=en completed', { lang: 'en', title: 'Your password has been changed' });
    await person.context.close();
  });
});
