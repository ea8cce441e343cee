"""The content models now live in the content app (content/0001): the gallery app forgets them; their tables stay."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('gallery', '0004_face_embedding_any_length'),
        ('jobs', '0010_image_in_content'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='exifdata',
                    name='image',
                ),
                migrations.RemoveField(
                    model_name='exifdata',
                    name='result',
                ),
                migrations.RemoveField(
                    model_name='face',
                    name='image',
                ),
                migrations.RemoveField(
                    model_name='face',
                    name='result',
                ),
                migrations.RemoveField(
                    model_name='stageresult',
                    name='image',
                ),
                migrations.DeleteModel(
                    name='Classification',
                ),
                migrations.DeleteModel(
                    name='ExifData',
                ),
                migrations.DeleteModel(
                    name='Face',
                ),
                migrations.DeleteModel(
                    name='Image',
                ),
                migrations.DeleteModel(
                    name='StageResult',
                ),
            ],
            database_operations=[],
        ),
    ]
