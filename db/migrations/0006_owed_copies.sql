CREATE TABLE "owed_copies" (
	"id" serial PRIMARY KEY NOT NULL,
	"cluster" text NOT NULL,
	"name" text NOT NULL,
	"store" text NOT NULL,
	"key" text NOT NULL,
	"owed_since" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "owed_copies_cluster_name_store" ON "owed_copies" USING btree ("cluster","name","store");