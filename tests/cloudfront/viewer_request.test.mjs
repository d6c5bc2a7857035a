// The CloudFront Function, run by Node against the request fixtures the Python preview
// server also passes. The `cloudfront` module exists only at the edge: a stand-in key
// value store takes its place, holding each case's renamed slugs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

const root = new URL('../../', import.meta.url);
const source = readFileSync(new URL('infra/viewer-request.js', root), 'utf8');
const cases = JSON.parse(readFileSync(new URL('tests/fixtures/viewer_requests.json', root), 'utf8'));
assert.match(source, /^import cf from 'cloudfront';$/m);

function load(redirects) {
    const cf = {
        kvs: () => ({
            get: async (key) => {
                if (!(key in redirects)) throw new Error('Key not found');
                return redirects[key];
            },
        }),
    };
    const body = source.replace(/^import cf from 'cloudfront';$/m, '');
    return new Function('cf', `${body}\nreturn handler;`)(cf);
}

function querystring(query) {
    const parsed = {};
    for (const pair of (query || '').split('&').filter(Boolean)) {
        const [key, value] = pair.split('=');
        parsed[key] = { value: value ?? '' };
    }
    return parsed;
}

for (const c of cases) {
    test(`${c.uri}${c.query ? '?' + c.query : ''}`, async () => {
        const handler = load(c.redirects || {});
        const event = {
            version: '1.0',
            context: { eventType: 'viewer-request' },
            viewer: { ip: '192.0.2.1' },
            request: { method: 'GET', uri: c.uri, querystring: querystring(c.query), headers: {}, cookies: {} },
        };
        const result = await handler(event);
        if (c.status) {
            assert.equal(result.statusCode, c.status);
        } else if (c.redirect) {
            assert.equal(result.statusCode, 301);
            assert.equal(result.headers.location.value, c.redirect);
        } else {
            assert.equal(result.statusCode, undefined);
            assert.equal(result.uri, '/' + c.key);
            assert.deepEqual(result.querystring, querystring(c.query));
        }
    });
}
