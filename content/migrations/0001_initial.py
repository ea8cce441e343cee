"""The content models, moved from the gallery app: this records them in the content app's state only. Their tables
are the gallery app's, made by gallery/0001-0004, and stay as they are (each model pins its db_table).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('gallery', '0004_face_embedding_any_length'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Image',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('sha256', models.CharField(max_length=64)),
                        ('md5', models.CharField(max_length=32)),
                        ('sha1', models.CharField(max_length=40)),
                        ('size', models.BigIntegerField()),
                        ('mime', models.CharField(max_length=100)),
                        ('format', models.CharField(max_length=16)),
                        ('raw_width', models.PositiveIntegerField()),
                        ('raw_height', models.PositiveIntegerField()),
                        ('width', models.PositiveIntegerField()),
                        ('height', models.PositiveIntegerField()),
                        ('orientation', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('mode', models.CharField(help_text='Pillow mode: the colour space and layout (RGB, CMYK, L, P...)', max_length=16)),
                        ('bit_depth', models.PositiveSmallIntegerField(blank=True, help_text='bits per channel', null=True)),
                        ('dpi_x', models.FloatField(blank=True, null=True)),
                        ('dpi_y', models.FloatField(blank=True, null=True)),
                        ('frames', models.PositiveIntegerField(default=1)),
                        ('icc_profile', models.BooleanField(default=False)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'gallery_image',
                        'indexes': [models.Index(fields=['md5'], name='image_md5'), models.Index(fields=['sha1'], name='image_sha1')],
                        'constraints': [models.UniqueConstraint(fields=('sha256',), name='image_sha256_once')],
                    },
                ),
                migrations.CreateModel(
                    name='StageResult',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('stage', models.CharField(max_length=32)),
                        ('extractor_version', models.CharField(max_length=32)),
                        ('status', models.CharField(choices=[('done', 'Done'), ('failed', 'Failed'), ('skipped', 'Skipped')], max_length=8)),
                        ('error', models.TextField(blank=True)),
                        ('model_name', models.CharField(blank=True, max_length=200)),
                        ('model_sha256', models.CharField(blank=True, max_length=64)),
                        ('params', models.JSONField(blank=True, default=dict)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('image', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='stage_results', to='content.image')),
                    ],
                    options={
                        'db_table': 'gallery_stageresult',
                    },
                ),
                migrations.CreateModel(
                    name='Face',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('index', models.PositiveSmallIntegerField(help_text='0 for the face with the highest detection score, then 1, ...')),
                        ('x', models.FloatField()),
                        ('y', models.FloatField()),
                        ('width', models.FloatField()),
                        ('height', models.FloatField()),
                        ('score', models.FloatField(help_text='detection score, 0-1')),
                        ('landmarks', models.JSONField(help_text='[[x, y], ...]: left eye, right eye, nose tip, mouth left, mouth right')),
                        ('embedding', models.BinaryField(help_text="float32, little-endian, L2-normalised; its length is the recogniser's (result.params embedding_dim)")),
                        ('crop', models.BinaryField(help_text='JPEG thumbnail of the face for display')),
                        ('image', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='faces', to='content.image')),
                        ('result', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='faces', to='content.stageresult')),
                    ],
                    options={
                        'db_table': 'gallery_face',
                    },
                ),
                migrations.CreateModel(
                    name='ExifData',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('tags', models.JSONField(default=dict, help_text='every tag, by IFD group, as JSON-safe values')),
                        ('camera_make', models.CharField(blank=True, max_length=200)),
                        ('camera_model', models.CharField(blank=True, max_length=200)),
                        ('lens_model', models.CharField(blank=True, max_length=200)),
                        ('software', models.CharField(blank=True, max_length=200)),
                        ('datetime_original', models.CharField(blank=True, help_text='ISO 8601 camera local time, with offset when known', max_length=40)),
                        ('orientation', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('gps_lat', models.FloatField(blank=True, null=True)),
                        ('gps_lon', models.FloatField(blank=True, null=True)),
                        ('gps_alt', models.FloatField(blank=True, null=True)),
                        ('gps_datetime', models.CharField(blank=True, max_length=40)),
                        ('warnings', models.JSONField(blank=True, default=list)),
                        ('image', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='exif', to='content.image')),
                        ('result', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='exif', to='content.stageresult')),
                    ],
                    options={
                        'verbose_name_plural': 'EXIF data',
                        'db_table': 'gallery_exifdata',
                    },
                ),
                migrations.CreateModel(
                    name='Classification',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('tags', models.JSONField(default=list, help_text='[{"label": ..., "score": 0-1}, ...], best first')),
                        ('embedding', models.BinaryField(help_text='float32, little-endian, L2-normalised image embedding')),
                        ('embedding_dim', models.PositiveSmallIntegerField()),
                        ('caption', models.TextField(blank=True)),
                        ('image', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='classifications', to='content.image')),
                        ('result', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='classification', to='content.stageresult')),
                    ],
                    options={
                        'db_table': 'gallery_classification',
                    },
                ),
                migrations.AddIndex(
                    model_name='stageresult',
                    index=models.Index(fields=['stage', 'extractor_version', 'status'], name='gallery_sta_stage_df7d1f_idx'),
                ),
                migrations.AddConstraint(
                    model_name='stageresult',
                    constraint=models.UniqueConstraint(fields=('image', 'stage', 'extractor_version'), name='stage_result_once'),
                ),
                migrations.AddConstraint(
                    model_name='face',
                    constraint=models.UniqueConstraint(fields=('result', 'index'), name='face_once'),
                ),
                migrations.AddIndex(
                    model_name='exifdata',
                    index=models.Index(fields=['gps_lat', 'gps_lon'], name='gallery_exi_gps_lat_683c6a_idx'),
                ),
                migrations.AddIndex(
                    model_name='exifdata',
                    index=models.Index(fields=['camera_make'], name='exif_camera_make'),
                ),
                migrations.AddIndex(
                    model_name='exifdata',
                    index=models.Index(fields=['camera_model'], name='exif_camera_model'),
                ),
                migrations.AddIndex(
                    model_name='exifdata',
                    index=models.Index(fields=['datetime_original'], name='exif_datetime_original'),
                ),
            ],
            database_operations=[],
        ),
    ]
