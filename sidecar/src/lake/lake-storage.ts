import { randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';

/** One stored object. */
export interface LakeObject {
  key: string;
  size: number;
}

/**
 * Where lake objects live. Keys are '/'-separated and relative to the lake root. A `put`
 * is all-or-nothing for readers: nobody ever sees half an object under its final key.
 */
export interface LakeStorage {
  /** The lake root as a URI without credentials: `file:<path>` or `s3://bucket/prefix`. */
  readonly uri: string;
  put(key: string, body: Uint8Array): Promise<void>;
  /**
   * Creates the object only if no object has the key (atomic: of two concurrent calls exactly
   * one wins; the deletion registry's create-only records and the lake writer's flush claims,
   * lake-manifest.ts); true when this call created it. S3: a conditional PutObject (If-None-Match: *).
   */
  putIfAbsent(key: string, body: Uint8Array): Promise<boolean>;
  /** The object's bytes, or null when there is none. */
  get(key: string): Promise<Buffer | null>;
  /** Every object whose key starts with `prefix`, sorted by key. Temporaries are not listed. */
  list(prefix: string): Promise<LakeObject[]>;
  /** Deletes the object; deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Storage that keeps old versions (S3 with versioning on): deletes every version of `key`
   * but the current one, delete markers included, and returns how many it deleted. A folder
   * keeps none (a put replaces the file): absent.
   */
  purgeNoncurrentVersions?(key: string): Promise<number>;
  /** Versions of `key` kept besides the current one (0 for storage without versions). */
  noncurrentVersions?(key: string): Promise<number>;
}

/** Suffix of the temporary files a local put writes before its rename; never listed. */
const TEMP_MARKER = '.tmp-';

/** A folder on the local disk (the default lake). Writes go to a temporary name and are renamed. */
export class LocalLakeStorage implements LakeStorage {
  readonly root: string;
  readonly uri: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.uri = `file:${root}`;
  }

  private path(key: string): string {
    if (key.includes('..') || key.startsWith('/')) throw new Error(`invalid lake key: ${key}`);
    return join(this.root, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`;
    await writeFile(temporary, body);
    await rename(temporary, path);
  }

  /** link(2) of a complete temporary file: atomic, fails with EEXIST when the key exists, and never shows half a file (an open with 'wx' would). */
  async putIfAbsent(key: string, body: Uint8Array): Promise<boolean> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    const temporary = `${path}${TEMP_MARKER}${process.pid}-${randomBytes(4).toString('hex')}`;
    await writeFile(temporary, body);
    try {
      await link(temporary, path);
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await unlink(temporary);
    }
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      return await readFile(this.path(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async list(prefix: string): Promise<LakeObject[]> {
    const out: LakeObject[] = [];
    // Walk only the folder the prefix names (up to its last '/'), not the whole lake.
    const folder = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const start = folder === '' ? this.root : this.path(folder);
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw error;
      }
      for (const entry of entries) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          await walk(path);
        } else if (entry.isFile() && !entry.name.includes(TEMP_MARKER)) {
          const key = relative(this.root, path).split(sep).join('/');
          if (key.startsWith(prefix)) out.push({ key, size: (await stat(path)).size });
        }
      }
    };
    await walk(start);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }
}

/** Connection settings of an S3 (or S3-compatible) lake. */
export interface S3LakeOptions {
  bucket: string;
  /** Key prefix inside the bucket ('' or ending with '/'). */
  prefix: string;
  /** Endpoint of an S3-compatible service (a local stand-in); unset for AWS. */
  endpoint?: string;
  /** Path-style addressing (bucket in the path): needed by most local stand-ins. */
  forcePathStyle?: boolean;
  /** Default: AWS_REGION, else us-east-1. */
  region?: string;
}

/** An S3 bucket (and prefix) through @aws-sdk/client-s3. A PUT is atomic by S3's own rules. */
export class S3LakeStorage implements LakeStorage {
  readonly client: S3Client;
  readonly bucket: string;
  readonly prefix: string;
  readonly uri: string;

  constructor(readonly options: S3LakeOptions) {
    this.bucket = options.bucket;
    this.prefix = options.prefix === '' || options.prefix.endsWith('/') ? options.prefix : `${options.prefix}/`;
    this.uri = `s3://${this.bucket}/${this.prefix}`;
    const config: S3ClientConfig = { region: options.region ?? process.env.AWS_REGION ?? 'us-east-1', forcePathStyle: options.forcePathStyle ?? options.endpoint !== undefined };
    if (options.endpoint) {
      config.endpoint = options.endpoint;
      // Local stand-ins accept any key pair; with no AWS credentials in the environment, a
      // fixed placeholder pair keeps the SDK from searching for real ones.
      if (!process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE) config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    }
    this.client = new S3Client(config);
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Body: body }));
  }

  async putIfAbsent(key: string, body: Uint8Array): Promise<boolean> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, Body: body, IfNoneMatch: '*' }));
      return true;
    } catch (error) {
      // 412: the key exists; 409 ConditionalRequestConflict: a concurrent conditional write won
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412 || status === 409 || (error as { name?: string }).name === 'PreconditionFailed') return false;
      throw error;
    }
  }

  async get(key: string): Promise<Buffer | null> {
    try {
      const result = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
      return Buffer.from(await (result.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return null;
      throw error;
    }
  }

  async list(prefix: string): Promise<LakeObject[]> {
    const out: LakeObject[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.prefix + prefix, ContinuationToken: token }));
      for (const object of page.Contents ?? []) {
        if (object.Key) out.push({ key: object.Key.slice(this.prefix.length), size: object.Size ?? 0 });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }));
  }

  /** Every version and delete marker of exactly `key` (not of keys it is a prefix of). */
  private async versions(key: string): Promise<Array<{ versionId: string; isLatest: boolean }>> {
    const out: Array<{ versionId: string; isLatest: boolean }> = [];
    const full = this.prefix + key;
    let keyMarker: string | undefined;
    let versionMarker: string | undefined;
    for (;;) {
      const page = await this.client.send(new ListObjectVersionsCommand({ Bucket: this.bucket, Prefix: full, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
      for (const v of [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])]) {
        if (v.Key === full && v.VersionId && v.VersionId !== 'null') out.push({ versionId: v.VersionId, isLatest: v.IsLatest === true });
      }
      if (!page.IsTruncated) return out;
      keyMarker = page.NextKeyMarker;
      versionMarker = page.NextVersionIdMarker;
    }
  }

  async purgeNoncurrentVersions(key: string): Promise<number> {
    const old = (await this.versions(key)).filter((v) => !v.isLatest);
    for (const v of old) await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key, VersionId: v.versionId }));
    return old.length;
  }

  async noncurrentVersions(key: string): Promise<number> {
    return (await this.versions(key)).filter((v) => !v.isLatest).length;
  }

  /** Creates the bucket when it does not exist (local stand-ins; production buckets come from infrastructure code). */
  async ensureBucket(): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.bucket }));
      return false;
    } catch {
      await this.client.send(new CreateBucketCommand({ Bucket: this.bucket }));
      return true;
    }
  }

  close(): void {
    this.client.destroy();
  }
}

/**
 * The storage a lake URI names: `s3://bucket/prefix` (with `endpoint` for a local S3
 * stand-in) or a folder path (`file:` prefix optional).
 */
export function lakeStorageFromUri(uri: string, s3: { endpoint?: string | undefined; region?: string | undefined } = {}): LakeStorage {
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(uri);
  if (match) {
    const options: S3LakeOptions = { bucket: match[1] as string, prefix: match[2] ?? '' };
    if (s3.endpoint) {
      options.endpoint = s3.endpoint;
      options.forcePathStyle = true;
    }
    if (s3.region) options.region = s3.region;
    return new S3LakeStorage(options);
  }
  return new LocalLakeStorage(uri.replace(/^file:/, ''));
}
