// s3rver 3.7.1 (npm) on 127.0.0.1 for the tests and the upload benchmark, started by s3rver_start in s3rver.sh:
//
//   node scripts/lib/s3rver.js DATA_DIR
//
// Binds a free port and prints "s3rver listening on http://127.0.0.1:PORT" once it accepts requests; stops on SIGTERM/SIGINT.
// Credentials: access key S3RVER, secret S3RVER (s3rver's only account).
//
// s3rver 3.7.1 stores multipart uploads under DIR/BUCKET/._S3rver_uploads/UPLOAD_ID/ but answers two of S3's multipart calls with
// 405/501: AbortMultipartUpload (DELETE /bucket/key?uploadId=ID) and ListMultipartUploads (GET /bucket?uploads). This adds them,
// on that same folder, as S3 documents them, so a test can see that a failed upload was aborted and left no parts.
'use strict';

const fs = require('fs/promises');
const path = require('path');

const modules = process.env.S3RVER_NODE_MODULES || path.join(__dirname, '..', '..', '.tools', 'node_modules');
const S3rver = require(path.join(modules, 's3rver'));
const S3Error = require(path.join(modules, 's3rver', 'lib', 'models', 'error'));

const directory = process.argv[2];
if (!directory) {
  console.error('usage: node scripts/lib/s3rver.js DATA_DIR');
  process.exit(2);
}

const uploadsOf = bucket => path.join(directory, bucket, '._S3rver_uploads');

// Only s3rver's account may call these (it checks no more than that for SigV4 either).
function authorized(ctx) {
  const credential = /Credential=([^/]+)\//.exec(ctx.get('authorization')) || [null, ctx.query['X-Amz-Credential']?.split('/')[0]];
  return credential[1] === 'S3RVER';
}

async function multipartExtras(ctx, next) {
  const [, bucket, key] = /^\/([^/]+)\/?(.*)$/.exec(ctx.path) || [];
  const abort = ctx.method === 'DELETE' && key && 'uploadId' in ctx.query;
  const list = ctx.method === 'GET' && bucket && !key && 'uploads' in ctx.query;
  if (!abort && !list) return next();
  if (!authorized(ctx)) throw new S3Error('AccessDenied', 'Access Denied');
  if (!(await ctx.store.getBucket(bucket))) throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });

  if (abort) {
    const folder = path.join(uploadsOf(bucket), path.basename(ctx.query.uploadId));
    const stored = await fs.readFile(path.join(folder, 'key'), 'utf8').catch(() => null);
    if (stored !== decodeURIComponent(key)) {
      throw new S3Error('NoSuchUpload', 'The specified upload does not exist.', { UploadId: ctx.query.uploadId });
    }
    await fs.rm(folder, { recursive: true, force: true });
    ctx.status = 204;
    return;
  }

  const prefix = ctx.query.prefix || '';
  const ids = await fs.readdir(uploadsOf(bucket)).catch(() => []);
  const uploads = [];
  for (const id of ids.sort()) {
    const folder = path.join(uploadsOf(bucket), id);
    const stored = await fs.readFile(path.join(folder, 'key'), 'utf8').catch(() => null);
    if (stored === null || !stored.startsWith(prefix)) continue;
    const { birthtime } = await fs.stat(folder);
    uploads.push({ Key: stored, UploadId: id, Initiated: birthtime.toISOString() });
  }
  ctx.body = {
    ListMultipartUploadsResult: {
      '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
      Bucket: bucket,
      KeyMarker: '',
      UploadIdMarker: '',
      Prefix: prefix,
      MaxUploads: 1000,
      IsTruncated: false,
      Upload: uploads,
    },
  };
}

const server = new S3rver({ directory, address: '127.0.0.1', port: 0, silent: true });
// Before s3rver's router (its last middleware), after its logging, error and XML-encoding middleware.
server.middleware.splice(server.middleware.length - 1, 0, multipartExtras);

server.run().then(
  ({ port }) => console.log(`s3rver listening on http://127.0.0.1:${port}`),
  err => {
    console.error(`s3rver could not start: ${err.message}`);
    process.exit(1);
  },
);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close().finally(() => process.exit(0)));
}
