CREATE TABLE "alerts" (
	"id" serial PRIMARY KEY NOT NULL,
	"cluster" text NOT NULL,
	"key" text NOT NULL,
	"kind" text NOT NULL,
	"severity" text DEFAULT 'error' NOT NULL,
	"message" text NOT NULL,
	"details" jsonb,
	"raised_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	"occurrences" integer DEFAULT 1 NOT NULL,
	"resolved_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "wal_copies" (
	"id" serial PRIMARY KEY NOT NULL,
	"cluster" text NOT NULL,
	"name" text NOT NULL,
	"store" text NOT NULL,
	"key" text NOT NULL,
	"stored_size" bigint NOT NULL,
	"confirmed_at" timestamp with time zone NOT NULL,
	"upload_ms" integer
);
--> statement-breakpoint
CREATE TABLE "wal_files" (
	"id" serial PRIMARY KEY NOT NULL,
	"cluster" text NOT NULL,
	"timeline" integer NOT NULL,
	"name" text NOT NULL,
	"kind" text NOT NULL,
	"start_lsn" bigint,
	"raw_size" bigint NOT NULL,
	"stored_size" bigint NOT NULL,
	"codec" text NOT NULL,
	"sha256" text NOT NULL,
	"key" text NOT NULL,
	"handed_over_at" timestamp with time zone NOT NULL,
	"archived_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "alerts_open_key" ON "alerts" USING btree ("cluster","key") WHERE resolved_at IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "wal_copies_cluster_name_store" ON "wal_copies" USING btree ("cluster","name","store");--> statement-breakpoint
CREATE UNIQUE INDEX "wal_files_cluster_name" ON "wal_files" USING btree ("cluster","name");--> statement-breakpoint
CREATE INDEX "wal_files_cluster_tli_lsn" ON "wal_files" USING btree ("cluster","timeline","start_lsn");