// CloudFront Function (cloudfront-js-2.0), viewer request.
// Pretty URLs: /en/issues/412/ is stored as /en/issues/412/index.html. A folder asked for
// without its slash is redirected to it, so every page has one address. A renamed slug
// finds its new address in the key value store, which the index stage keeps.
// The same rules, in Python, serve the local preview (functions/broadsheet/viewer.py);
// tests/fixtures/viewer_requests.json holds the cases both must pass.
import cf from 'cloudfront';

function redirect(location) {
    return {
        statusCode: 301,
        statusDescription: 'Moved Permanently',
        headers: { location: { value: location }, 'cache-control': { value: 'max-age=300' } },
    };
}

function normalise(path) {
    var parts = [];
    var segments = path.replace(/[\\/]+/g, '/').split('/');
    for (var i = 0; i < segments.length; i++) {
        var segment = segments[i];
        if (segment === '..') {
            parts.pop();
        } else if (segment !== '.' && segment !== '') {
            parts.push(segment);
        }
    }
    var normal = '/' + parts.join('/');
    return path.endsWith('/') && normal !== '/' ? normal + '/' : normal;
}

async function renamed(path) {
    try {
        return await cf.kvs().get(path);
    } catch (err) {
        return null; // not a renamed page (or no store): carry on
    }
}

function refused() {
    return { statusCode: 400, statusDescription: 'Bad Request' };
}

async function handler(event) {
    var request = event.request;
    var uri = request.uri || '/';
    // A control character has no place in an address, and must never reach a header.
    if (/[\x00-\x1f\x7f]/.test(uri)) {
        return refused();
    }
    var moved = await renamed(uri);
    if (!moved && uri.endsWith('/index.html')) {
        // A renamed page's old address asked for as its index.html
        moved = await renamed(uri.substring(0, uri.length - 'index.html'.length));
    }
    if (moved) {
        return redirect(moved);
    }
    if (uri.indexOf('//') !== -1 || uri.indexOf('/../') !== -1 || uri.endsWith('/..') ||
        uri.indexOf('\\') !== -1) {
        // Never a protocol-relative "//host" Location: that would be an open redirect.
        return redirect(normalise(uri));
    }
    if (uri.endsWith('/')) {
        request.uri = uri + 'index.html';
        return request;
    }
    var last = uri.substring(uri.lastIndexOf('/') + 1);
    if (last.indexOf('.') === -1) {
        return redirect(uri + '/');
    }
    return request;
}
