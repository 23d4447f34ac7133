import { describe, expect, it } from 'vitest';
import { checkWebhookUrl } from './validation.js';

describe('checkWebhookUrl (LlamaCloud rules for webhook URLs)', () => {
  it('accepts an https URL on a domain name under 200 characters', () => {
    expect(
      checkWebhookUrl('https://hooks.example.com/v1/callbacks/llamaparse/tok'),
    ).toBeUndefined();
  });

  it('accepts localhost, since refusing it is not documented', () => {
    expect(checkWebhookUrl('https://localhost/cb')).toBeUndefined();
  });

  it.each([
    ['http://hooks.example.com/cb', /must use https/],
    ['ftp://hooks.example.com/cb', /must use https/],
    ['https://127.0.0.1/cb', /not an IP/],
    ['https://0x7f.1/cb', /not an IP/],
    ['https://[::1]:8443/cb', /not an IP/],
    ['not a url', /not a valid URL/],
    [`https://hooks.example.com/${'x'.repeat(174)}`, /under 200 characters \(got 200\)/],
  ])('refuses %s', (url, reason) => {
    expect(checkWebhookUrl(url)).toMatch(reason);
  });

  it('names the field it checked', () => {
    expect(checkWebhookUrl('http://a.example', 'webhook_configurations[0].webhook_url')).toMatch(
      /^Invalid webhook_configurations\[0\]\.webhook_url:/,
    );
  });
});
