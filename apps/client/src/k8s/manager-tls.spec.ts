import { parseManagerAddress } from './manager-tls.js';

describe('parseManagerAddress', () => {
  it.each([
    ['198.18.0.5:8081', { address: '198.18.0.5:8081', tls: false }],
    ['https://198.18.0.5:8082', { address: '198.18.0.5:8082', tls: true }],
    ['HTTPS://tm.example.test:8082/', { address: 'tm.example.test:8082', tls: true }],
    ['https://[2001:db8::5]:8082', { address: '[2001:db8::5]:8082', tls: true }],
    ['', { address: '', tls: false }],
  ])('%s', (text, want) => expect(parseManagerAddress(text)).toEqual(want));
});
