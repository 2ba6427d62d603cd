/**
 * How a component declares its options, once: a TypeBox schema is at the same time the JSON
 * Schema that validates the build file (shipped as the plugin's schema.json) and the source of
 * the options' TypeScript type. A default is written once, with `withDefault`: it lands in the
 * schema (the engine applies it before the component sees its options), in the description
 * ("Default: 10s.") and in the type (the option is never undefined at a use site).
 *
 *   export const fooSchema = options({
 *     memory: withDefault(int("Memory in MiB.", { minimum: 16 }), 512),
 *     iso_url: str("URL of the ISO."),
 *   });
 *   export type FooOptions = OptionsOf<typeof fooSchema>;   // { memory: number; iso_url?: string }
 *
 * TypeBox (rather than json-schema-to-ts over hand-written JSON) because its builders compose
 * (fragments spread into several builders' schemas keep their types), it type-checks fast, and
 * its output is plain JSON Schema that ajv compiles as before.
 */
import {
  OptionalKind,
  type SchemaOptions,
  type Static,
  type TObject,
  type TOptional,
  type TProperties,
  type TSchema,
  Type,
} from "@sinclair/typebox";

export { type Static, type TSchema, Type } from "@sinclair/typebox";

declare const DEFAULTED: unique symbol;
/** An optional option with a default: optional in the build file, always set for the component. */
export type TDefaulted<T extends TSchema> = TOptional<T> & { readonly [DEFAULTED]: T };

type Filled<P extends TProperties> = {
  -readonly [K in keyof P as P[K] extends { readonly [DEFAULTED]: TSchema } ? K : never]-?: P[K] extends {
    readonly [DEFAULTED]: infer T extends TSchema;
  }
    ? Static<T>
    : never;
};

/** The options a component receives: the schema's type, with defaulted options always set. */
export type OptionsOf<S> =
  S extends TOptionsObject<infer P>
    ? Static<TObject<P>> & Filled<P>
    : S extends TProperties
      ? Static<TObject<S>> & Filled<S>
      : never;

export interface TOptionsObject<P extends TProperties> extends TSchema {
  readonly type: "object";
  readonly properties: P;
  readonly static: Static<TObject<P>> & Filled<P>;
}

/** An object schema of options, unknown keys refused (every builder's and provisioner's shape). */
export function options<P extends TProperties>(
  properties: P,
  extra: { description?: string } = {},
): TOptionsObject<P> {
  return Type.Object(properties, {
    additionalProperties: false,
    ...(extra.description ? { description: extra.description } : {}),
  }) as unknown as TOptionsObject<P>;
}

function show(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Give an optional option its default: in the schema, the description and the type. */
export function withDefault<T extends TSchema>(schema: TOptional<T> | T, value: T["static"]): TDefaulted<T> {
  const description = schema.description
    ? `${String(schema.description).replace(/\s*$/, "")} Default: ${show(value)}.`
    : `Default: ${show(value)}.`;
  return Type.Optional({ ...schema, description, default: value } as unknown as T) as TDefaulted<T>;
}

/** An option that must be set (most options are optional). */
export function required<T extends TSchema>(schema: TOptional<T>): T {
  const { [OptionalKind]: _optional, ...copy } = schema as TSchema & { [OptionalKind]?: string };
  return copy as unknown as T;
}

const o = <T extends TSchema>(schema: T): TOptional<T> => Type.Optional(schema) as TOptional<T>;

// The constructors every component's schema is written with (each option optional).
export const str = (description: string, extra: SchemaOptions = {}) =>
  o(Type.String({ description, ...extra }));
export const bool = (description: string) => o(Type.Boolean({ description }));
export const int = (description: string, extra: { minimum?: number; maximum?: number } = {}) =>
  o(Type.Integer({ description, ...extra }));
export const num = (description: string, extra: { minimum?: number; maximum?: number } = {}) =>
  o(Type.Number({ description, ...extra }));
export const port = (description: string) => int(description, { minimum: 1, maximum: 65535 });
export const strList = (description: string) => o(Type.Array(Type.String(), { description }));
export const strMap = (description: string) => o(Type.Record(Type.String(), Type.String(), { description }));
/** One of the given strings. */
export const oneOf = <const V extends readonly [string, ...string[]]>(values: V, description?: string) =>
  o(
    Type.Unsafe<V[number]>({
      enum: [...values],
      ...(description ? { description } : {}),
    }),
  );

/** Go-style durations as Packer writes them: 30s, 5m, 1h30m, 250ms, 0. */
export const DURATION_PATTERN = "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$";
export const duration = (description: string) =>
  o(Type.String({ pattern: DURATION_PATTERN, description: `${description} A duration such as 30s or 5m.` }));

/** A disk or memory size: a number of MiB, or 10G, 512M, 1.5GiB … */
export const size = (description: string) =>
  o(
    Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: "^[0-9]+(\\.[0-9]+)?[KMGT]?i?B?$" })], {
      description: `${description} A number of MiB, or a size such as 10G or 512M.`,
    }),
  );
